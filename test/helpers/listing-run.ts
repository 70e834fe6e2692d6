import type { TurnEnd } from "../../plugin/session-tracker.ts";
import { buildRun, type SessionMessage } from "../../plugin/settle-run.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";

/**
 * The run `buildRun` makes from a session's final listing cut at the prompt after turn
 * `turnIndex`: what a read right at that turn's end would have seen, for comparing with `run`
 * (a run the plugin settled). The events decide outcome and error in both paths, so they are
 * taken from `run`; `settledFrom` is what the caller expects.
 */
export function listingRun(
  run: TerminalRun,
  listing: readonly SessionMessage[],
  turnIndex: number,
  worktree: string,
  settledFrom: "events" | "read" = "events",
): TerminalRun {
  const prompts = listing.flatMap((m, i) => (m.info.role === "user" ? [i] : []));
  const end: TurnEnd = {
    sessionId: run.sessionId,
    pinnedTitle: run.pinnedTitle,
    currentTitle: run.currentTitle,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    endedInRetry: false,
    ...(run.error ? { error: run.error } : {}),
  };
  const cut = listing.slice(0, prompts[turnIndex + 1] ?? listing.length);
  return { ...buildRun(end, cut, worktree), outcome: run.outcome, settledFrom };
}
