import type { AuditLog, Relay, TerminalRun } from "../relay/index.ts";
import { RelayError, runIdentity } from "../relay/index.ts";
import { readLastTurn } from "./read-last-turn.ts";
import {
  createSessionTracker,
  type SessionTrackerOptions,
  type TrackedEvent,
  type TurnEnd,
} from "./session-tracker.ts";
import { type SessionMessage, settledNow, settleRun } from "./settle-run.ts";
import { createTurnRecorder } from "./turn-recorder.ts";

/** What the plugin reads through OpenCode's client: the calls it makes, nothing more. */
export interface SessionReader {
  /** `client.session.get`: the session's current title. */
  title(sessionId: string): Promise<string>;
  /**
   * `client.session.messages`: the session's newest `limit` messages, oldest first (OpenCode
   * 1.18.33 semantics, see read-last-turn.ts); every message when `limit` is absent.
   */
  messages(sessionId: string, limit?: number): Promise<SessionMessage[]>;
}

export interface EventHookOptions {
  /** `null` while the configuration is unusable: runs are only journalled (held), not settled. */
  relay: Pick<Relay, "submit"> | null;
  audit: Pick<AuditLog, "append">;
  reader: SessionReader;
  /** The instance's worktree: changed files inside it are reported relative to it. */
  worktree: string;
  /** How long to wait for a turn's last message to settle after the idle, ms. @default 1500 */
  graceMs?: number;
  /** Sessions remembered. @default 10000 */
  maxSessions?: number;
  /** A tagged run's turn began: the run journal's `start` (synchronous, O(1), never throws). */
  onRunStart?: SessionTrackerOptions["onRunStart"];
  /**
   * The clock of turn ends, and the one OpenCode stamps messages with: a turn whose prompt is
   * older than the hook's first event is read, not settled from events (turn-recorder.ts).
   * @default Date.now
   */
  now?: () => number;
}

/**
 * The only event types the hook looks at, and who reads them: the tracker (session state) or
 * the turn recorder (what the turn produced). Everything else returns at once.
 */
const RELEVANT: ReadonlyMap<string, "session" | "message"> = new Map([
  ["session.created", "session"],
  ["session.updated", "session"],
  ["session.status", "session"],
  ["session.idle", "session"],
  ["session.error", "session"],
  ["session.deleted", "session"],
  ["message.updated", "message"],
  ["message.part.updated", "message"],
  ["message.part.removed", "message"],
  ["message.removed", "message"],
]);

const DONE: Promise<void> = Promise.resolve();

/** The `event` hook, and what its events told about sessions' titles (for the prompt hook). */
export type EventHook = ((input: { event: TrackedEvent }) => Promise<void>) & {
  /** A session's title as its events last said, if seen: O(1), no I/O. */
  titleOf(sessionId: string): string | undefined;
  /** Messages the hook holds in memory: those of turns in progress or still settling. */
  heldMessages(): number;
};

/**
 * The plugin's `event` hook. OpenCode calls it in a synchronous loop and does not await it, so
 * its synchronous part never throws (a sync throw would stop later plugins from seeing the event)
 * and is O(1) for every event but a turn's end: a turn the events hold settled is submitted there,
 * and the relay stages it and sends its first request before the hook returns (any later and it
 * waits behind OpenCode's own work after the turn). Reading messages, and waiting for a turn to
 * settle, happen off that stack.
 */
export function createEventHook(options: EventHookOptions): EventHook {
  const { relay, audit, reader } = options;
  /**
   * Sessions whose terminal run is being settled, with a change counter and the waiters for the
   * next change. A change seen while a read is in flight must not be missed, hence the counter.
   */
  const settling = new Map<string, { version: number; waiters: Set<() => void> }>();
  /** Sessions with runs being settled off the hook's stack, and how many. */
  const offStack = new Map<string, number>();

  const tracker = createSessionTracker({
    onTerminal: (end) => {
      if (!relay) return;
      // Kept until settled, even if the caller prompts again at once; dropped once settled.
      const release = recorder.hold(end.sessionId);
      // A turn settled already in what the events told (a completed turn) is submitted on the
      // hook's own stack, where the relay stages it and sends its first request at once: a
      // microtask queued here runs 2–3 ms later, behind OpenCode's own work after a turn, and later
      // still after a long session's (BENCHMARKS.md, section 9). Not while an earlier run of the
      // session is still settling: runs are submitted in order.
      if (!offStack.has(end.sessionId) && submitSettled(end, relay)) return release();
      offStack.set(end.sessionId, (offStack.get(end.sessionId) ?? 0) + 1);
      const done = () => {
        release();
        const left = (offStack.get(end.sessionId) ?? 1) - 1;
        if (left > 0) offStack.set(end.sessionId, left);
        else offStack.delete(end.sessionId);
      };
      // Off the hook's stack: the settle may wait for the message to settle, or read it.
      queueMicrotask(() => void settleAndSubmit(end, relay).finally(done));
    },
    onUnknownTitle: (sessionId) => {
      queueMicrotask(() => {
        reader.title(sessionId).then(
          (title) => tracker.learnTitle(sessionId, title),
          () => tracker.titleUnavailable(sessionId),
        );
      });
    },
    ...(options.maxSessions === undefined ? {} : { maxSessions: options.maxSessions }),
    ...(options.onRunStart === undefined ? {} : { onRunStart: options.onRunStart }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const recorder = createTurnRecorder({
    follows: (sessionId) => tracker.follows(sessionId),
    ...(options.now === undefined ? {} : { now: options.now }),
  });

  /** Submit the run now if the events hold its turn whole and settled; false to settle it off the stack. */
  function submitSettled(end: TurnEnd, relay: Pick<Relay, "submit">): boolean {
    let run: TerminalRun | undefined;
    try {
      const told = recorder.view(end.sessionId, end.endedAt);
      run = told && settledNow(end, told, options.worktree);
    } catch (error) {
      console.error(
        `opencode-callback-relay: settling ${end.sessionId} from its events failed: ${String(error)}`,
      );
      return false;
    }
    if (run === undefined) return false;
    run.settledFrom = "events";
    relay.submit(run);
    return true;
  }

  async function settleAndSubmit(end: TurnEnd, relay: Pick<Relay, "submit">): Promise<void> {
    let run: TerminalRun | undefined;
    const watch = { version: 0, waiters: new Set<() => void>() };
    settling.set(end.sessionId, watch);
    try {
      let seen = 0;
      let from: "events" | "read" = "read";
      const settled = await settleRun({
        end,
        worktree: options.worktree,
        ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
        fetchMessages: (id) => {
          seen = watch.version;
          // What the events told, when they hold the turn whole: OpenCode is not asked at all.
          const told = recorder.view(id, end.endedAt);
          from = told ? "events" : "read";
          if (told) return Promise.resolve(told);
          // Only the turn's own messages: the read stays flat however long the session grows.
          return readLastTurn(reader, id, { endedAt: end.endedAt });
        },
        waitForChange: (_id, timeoutMs) =>
          new Promise<void>((resolve) => {
            if (watch.version !== seen) return resolve();
            const timer = setTimeout(done, timeoutMs);
            function done() {
              clearTimeout(timer);
              watch.waiters.delete(done);
              resolve();
            }
            watch.waiters.add(done);
          }),
      });
      run = settled.run;
      if (settled.fetchError === undefined) run.settledFrom = from;
      else {
        const reason =
          settled.fetchError instanceof Error ? settled.fetchError.message : String(settled.fetchError);
        const identity = runIdentity(end.pinnedTitle);
        void audit.append({
          phase: "state_error",
          sessionId: end.sessionId,
          ...(identity.tagged ? { runId: identity.runId } : {}),
          code: "SETTLE_FETCH_FAILED",
          reason: `the session's messages could not be read (${reason}); the callback carries only what the events told`,
          hint: new RelayError("SETTLE_FETCH_FAILED", reason).hint,
        });
      }
    } catch (error) {
      // settleRun does not reject; this guards the guard. Submit what the events told.
      console.error(`opencode-callback-relay: settling ${end.sessionId} failed: ${String(error)}`);
    } finally {
      if (settling.get(end.sessionId) === watch) settling.delete(end.sessionId);
    }
    relay.submit(run ?? fallbackRun(end));
  }

  // A plain function returning one shared settled promise: an `async` hook would allocate a
  // fresh Promise for each of the thousands of delta events a streamed answer publishes.
  const hook = ({ event }: { event: TrackedEvent }) => {
    try {
      const type = event?.type;
      const kind = RELEVANT.get(type);
      if (kind === undefined) return DONE;
      // From the first event on, the recorder trusts prompts created since (idempotent).
      recorder.markLive();
      if (kind === "session") tracker.handle(event);
      else if (relay) recorder.handle(event);
      // After the recorder has it: a woken settle's next view includes this event.
      if (settling.size > 0) wakeSettling(event);
    } catch (error) {
      console.error(`opencode-callback-relay: event hook: ${String(error)}`);
    }
    return DONE;
  };
  return Object.assign(hook, {
    titleOf: (sessionId: string) => tracker.titleOf(sessionId),
    heldMessages: () => recorder.messageCount(),
  });

  function wakeSettling(event: TrackedEvent): void {
    const p = event.properties as { sessionID?: unknown; info?: { sessionID?: unknown } } | undefined;
    const id = event.type === "message.updated" ? p?.info?.sessionID : p?.sessionID;
    const watch = typeof id === "string" ? settling.get(id) : undefined;
    if (!watch) return;
    if (
      event.type === "message.updated" ||
      event.type === "session.idle" ||
      event.type === "session.status"
    ) {
      watch.version += 1;
      for (const wake of [...watch.waiters]) wake();
    }
  }
}

/** The run as the events alone describe it (used only if settling itself broke). */
function fallbackRun(end: TurnEnd): TerminalRun {
  const run: TerminalRun = {
    sessionId: end.sessionId,
    pinnedTitle: end.pinnedTitle,
    currentTitle: end.currentTitle,
    outcome: end.error ? (end.error.name === "MessageAbortedError" ? "aborted" : "failed") : "completed",
    summary: "",
    filesChanged: [],
    startedAt: end.startedAt,
    endedAt: end.endedAt,
  };
  if (end.error) run.error = end.error;
  return run;
}

/** A SessionReader over OpenCode's v1 SDK client (`input.client`). */
export function clientReader(client: {
  session: {
    get(options: { path: { id: string } }): Promise<{ data?: unknown; error?: unknown }>;
    messages(options: {
      path: { id: string };
      query?: { limit?: number };
    }): Promise<{ data?: unknown; error?: unknown }>;
  };
}): SessionReader {
  return {
    async title(sessionId) {
      const result = await client.session.get({ path: { id: sessionId } });
      const title = (result.data as { title?: unknown } | undefined)?.title;
      if (typeof title !== "string") throw failed("session.get", sessionId, result.error);
      return title;
    },
    async messages(sessionId, limit) {
      const result = await client.session.messages({
        path: { id: sessionId },
        ...(limit === undefined ? {} : { query: { limit } }),
      });
      if (!Array.isArray(result.data)) throw failed("session.messages", sessionId, result.error);
      return result.data as SessionMessage[];
    },
  };
}

function failed(call: string, sessionId: string, cause: unknown): RelayError {
  const detail = cause === undefined ? "no data" : JSON.stringify(cause).slice(0, 300);
  return new RelayError("SETTLE_FETCH_FAILED", `${call}(${sessionId}) failed: ${detail}`, { cause });
}
