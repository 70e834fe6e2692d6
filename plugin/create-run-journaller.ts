import type { AuditLog, JournalEntry, Notice, RelayError, RunJournal } from "../relay/index.ts";
import { currentOwner, parseTitle, printNotice, toRelayError } from "../relay/index.ts";
import type { RunPin } from "./session-tracker.ts";

export interface RunJournallerOptions {
  journal: Pick<RunJournal, "record">;
  audit: Pick<AuditLog, "append">;
  /** The plugin instance's directory and worktree, written into each entry. */
  directory: string;
  worktree: string;
  /** Set while the configuration is unusable: each newly journalled run gets one `held` record. */
  held?: RelayError;
  /** Where a held run's one-line notice goes. @default printNotice (OpenCode's stderr) */
  notify?: (notice: Notice) => void;
  /** @default Date.now */
  now?: () => number;
  /** Runs remembered as journalled by this process. @default 10000 */
  maxRemembered?: number;
}

export interface RunJournaller {
  /** The tracker's `onRunStart`: synchronous, O(1), never throws; the write happens later. */
  start(sessionId: string, pin: RunPin, startedAt: number): void;
  /**
   * Journal a tagged run now, from a hook OpenCode awaits before it calls the model (the prompt
   * hook): resolves once the entry is on disk (or its write failed, with a `state_error`), so a
   * stop at any later point finds it. The turn's `start` then finds it journalled. Never rejects.
   */
  startNow(sessionId: string, pinnedTitle: string, startedAt: number): Promise<void>;
  /** Resolves once everything started so far is written (tests, benchmarks). */
  flush(): Promise<void>;
}

/**
 * Journals each tagged run once, off the event hook's stack: `start` only queues; the title is
 * parsed (for the decoded runId) and the entry written on a later turn of the event loop.
 */
export function createRunJournaller(options: RunJournallerOptions): RunJournaller {
  const now = options.now ?? Date.now;
  const max = options.maxRemembered ?? 10_000;
  const remembered = new Set<string>();
  let queue: Array<{ sessionId: string; pinnedTitle: string; startedAt: number }> = [];
  let scheduled = false;
  /** Writes in flight, for flush(); never chained: the journal's group commit already batches. */
  const writing = new Set<Promise<void>>();
  /** `write` in flight until it settles (it never rejects), for flush(); resolves with it. */
  const track = (write: Promise<unknown>): Promise<void> => {
    const done: Promise<void> = write.then(() => void writing.delete(done));
    writing.add(done);
    return done;
  };

  /** Whether `entry` is new to this process (then remembered as journalled). */
  function firstSight(entry: JournalEntry): boolean {
    if (remembered.has(entry.dedupeKey)) return false;
    remembered.add(entry.dedupeKey);
    if (remembered.size > max) remembered.delete(remembered.values().next().value as string);
    return true;
  }

  function drain(): void {
    scheduled = false;
    const batch = queue;
    queue = [];
    const entries: JournalEntry[] = [];
    for (const item of batch) {
      const entry = entryOf(item);
      if (entry !== undefined && firstSight(entry)) entries.push(entry);
    }
    // The runs that started in one turn are written together: the journal group-commits them
    // (one file, one fsync), which it can only do if they are handed over at once.
    // Not queued behind the previous batch's write: a run that starts while one commits joins the
    // journal's next commit at once, which keeps the window before it is durable short.
    if (entries.length > 0) {
      void track(Promise.all(entries.map(write)));
    }
  }

  function entryOf(item: (typeof queue)[number]): JournalEntry | undefined {
    let runId: string | undefined;
    try {
      runId = parseTitle(item.pinnedTitle).tags.runId;
    } catch {
      return undefined; // a title that does not parse is refused with a record at its terminal point
    }
    if (runId === undefined || runId === "") return undefined;
    return {
      v: 1,
      sessionId: item.sessionId,
      runId,
      dedupeKey: `${item.sessionId}|${runId}`,
      pinnedTitle: item.pinnedTitle,
      owner: currentOwner(),
      startedAt: item.startedAt,
      journalledAt: now(),
      directory: options.directory,
      worktree: options.worktree,
      ...(options.held ? { heldCode: options.held.code } : {}),
    };
  }

  async function write(entry: JournalEntry): Promise<void> {
    const ids = { sessionId: entry.sessionId, runId: entry.runId, dedupeKey: entry.dedupeKey };
    try {
      const created = await options.journal.record(entry);
      if (!created || !options.held) return;
      const { held } = options;
      const tags = parseTitle(entry.pinnedTitle).tags;
      await options.audit.append({
        ...ids,
        ...(tags.taskId === undefined ? {} : { taskId: tags.taskId }),
        ...(tags.callbackSession === undefined ? {} : { callbackSession: tags.callbackSession }),
        phase: "held",
        code: held.code,
        reason: `the configuration is unusable (${held.message}): the run is journalled and is delivered once the configuration is fixed and OpenCode restarted`,
        hint: held.hint,
      });
      // Where people look, not only the audit log: one line per held run.
      (options.notify ?? printNotice)({
        what: `run ${JSON.stringify(entry.runId)} (OpenCode session ${entry.sessionId}) held`,
        code: held.code,
        fix: `${held.hint}; held runs are delivered once it is fixed and OpenCode restarted`,
      });
    } catch (error) {
      remembered.delete(entry.dedupeKey); // a later turn of the run tries again
      const err = toRelayError(error);
      await options.audit
        .append({ ...ids, phase: "state_error", code: err.code, reason: err.message, hint: err.hint })
        .catch(() => undefined);
    }
  }

  return {
    start(sessionId, pin, startedAt) {
      try {
        queue.push({ sessionId, pinnedTitle: pin.pinnedTitle, startedAt });
        if (scheduled) return;
        scheduled = true;
        setImmediate(drain);
      } catch {
        // Runs on the event hook's stack: never throw into OpenCode.
      }
    },
    async startNow(sessionId, pinnedTitle, startedAt) {
      try {
        const entry = entryOf({ sessionId, pinnedTitle, startedAt });
        if (entry === undefined || !firstSight(entry)) return;
        await track(write(entry));
      } catch {
        // Awaited by OpenCode before the model is called: never throw into it.
      }
    },
    async flush() {
      while (scheduled) await new Promise<void>((resolve) => setImmediate(resolve));
      while (writing.size > 0) await Promise.all(writing);
    },
  };
}
