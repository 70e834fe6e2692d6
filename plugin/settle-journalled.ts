import type { JournalEntry, TerminalRun } from "../relay/index.ts";
import { buildRun, type SessionMessage } from "./settle-run.ts";

/**
 * The outcome of a journalled run, read from what OpenCode stored (the process that ran it
 * stopped before calling back): the turn that began at the entry's first busy, and its last
 * assistant message.
 * - settled (`time.completed` and not mid tool-call, or an `error`): `completed`, `failed` or
 *   `aborted`, exactly as the live path would have reported it;
 * - anything else (no answer yet, a step that asked for tools and nothing after it): the turn was
 *   cut off, `interrupted`.
 */
export function settleJournalled(
  entry: JournalEntry,
  messages: SessionMessage[],
  currentTitle: string,
  worktree: string,
  now: number,
): TerminalRun {
  const turn = turnOf(messages, entry.startedAt);
  const last = turn.filter((m) => m.info.role === "assistant").at(-1);
  const settled =
    last !== undefined &&
    (last.info.error !== undefined ||
      (last.info.time?.completed !== undefined && last.info.finish !== "tool-calls"));
  const endedAt = settled ? (last.info.time?.completed ?? last.info.time?.created ?? now) : now;
  const run = buildRun(
    {
      sessionId: entry.sessionId,
      pinnedTitle: entry.pinnedTitle,
      currentTitle,
      startedAt: entry.startedAt,
      endedAt: Math.max(endedAt, entry.startedAt),
      endedInRetry: false,
    },
    turn,
    worktree,
  );
  if (!settled) {
    run.outcome = "interrupted";
    delete run.error;
  }
  run.settledFrom = "read";
  return run;
}

/**
 * The messages of the turn that began at `startedAt`: its user message (the last one created by
 * then; the user message is stored before the session goes busy) and everything up to the next
 * user message. A later turn of the same session is not this run's.
 */
function turnOf(messages: SessionMessage[], startedAt: number): SessionMessage[] {
  let start = -1;
  messages.forEach((m, i) => {
    if (m.info.role === "user" && (m.info.time?.created ?? 0) <= startedAt) start = i;
  });
  if (start === -1) start = messages.findIndex((m) => m.info.role === "user");
  if (start === -1) return [];
  const next = messages.findIndex((m, i) => i > start && m.info.role === "user");
  return messages.slice(start, next === -1 ? undefined : next);
}
