import type { TerminalRun } from "../relay/index.ts";
import { runIdentity } from "../relay/index.ts";
import { type LastTurnReader, readLastTurn } from "./read-last-turn.ts";
import { buildRun, type SessionMessage } from "./settle-run.ts";

/** The fields of `GET /session` entries the scan reads. */
export interface SessionSummary {
  id: string;
  title: string;
  time?: { created?: number; updated?: number };
}

export interface FindInterruptedOptions {
  /** `client.session.list`: this directory's sessions. */
  list: () => Promise<SessionSummary[]>;
  /** `client.session.messages`: read through `readLastTurn`, only a session's last turn. */
  messages: LastTurnReader["messages"];
  /** When this plugin instance started: only turns that began before it can have been cut off. */
  since: number;
  worktree: string;
  /** Only sessions active this recently are looked at, ms. @default 86400000 (24 h) */
  maxAgeMs?: number;
  /** At most this many tagged sessions are read (most recently active first). @default 100 */
  maxSessions?: number;
}

/**
 * Runs cut off by a crash (DESIGN.md outcome `interrupted`): OpenCode died mid-turn, so no idle
 * will ever come. After a restart such a turn shows as a tagged session whose last assistant
 * message has neither `time.completed` nor `error` (observed with 1.18.33: OpenCode leaves it so).
 *
 * Messages created after `since` belong to this process's own turns and are ignored, so a
 * prompt that woke the server up is never mistaken for a cut-off turn. A turn still running in
 * another OpenCode process on the same data would look the same; the relay's dedupe then keeps
 * the run to one callback, but it would say `interrupted`.
 */
export async function findInterrupted(options: FindInterruptedOptions): Promise<TerminalRun[]> {
  const maxAge = options.maxAgeMs ?? 86_400_000;
  const sessions = (await options.list())
    .filter((s) => typeof s.title === "string" && runIdentity(s.title).tagged)
    .filter((s) => (s.time?.updated ?? 0) >= options.since - maxAge)
    .sort((a, b) => (b.time?.updated ?? 0) - (a.time?.updated ?? 0))
    .slice(0, options.maxSessions ?? 100);
  const runs: TerminalRun[] = [];
  for (const session of sessions) {
    let messages: SessionMessage[];
    try {
      // Only the last turn begun before this process started: flat in the session's length.
      messages = await readLastTurn(options, session.id, { endedAt: options.since - 1 });
    } catch {
      continue; // unreadable now; the next start looks again
    }
    const before = messages.filter((m) => (m.info.time?.created ?? 0) < options.since);
    const last = before.at(-1);
    if (
      last?.info.role !== "assistant" ||
      last.info.time?.completed !== undefined ||
      last.info.error !== undefined
    ) {
      continue;
    }
    const user = before.find((m) => m.info.id === last.info.parentID);
    const startedAt = user?.info.time?.created ?? last.info.time?.created ?? options.since;
    const endedAt = Math.max(startedAt, session.time?.updated ?? startedAt);
    const run = buildRun(
      {
        sessionId: session.id,
        pinnedTitle: session.title,
        currentTitle: session.title,
        startedAt,
        endedAt,
        endedInRetry: false,
      },
      before,
      options.worktree,
    );
    run.outcome = "interrupted";
    runs.push(run);
  }
  return runs;
}
