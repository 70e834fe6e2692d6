import { currentOwner } from "../../relay/state/process-owner.ts";
import type { JournalEntry } from "../../relay/state/run-journal.ts";

/** A whole journal entry owned by this process; override what a test needs. */
export function journalEntry(
  sessionId: string,
  runId: string,
  over: Partial<JournalEntry> = {},
): JournalEntry {
  return {
    v: 1,
    sessionId,
    runId,
    dedupeKey: `${sessionId}|${runId}`,
    pinnedTitle: `t runId=${runId} callbackSession=agent:main:main`,
    owner: currentOwner(),
    startedAt: 1_000,
    journalledAt: 1_001,
    directory: "/srv/proj",
    worktree: "/srv/proj",
    ...over,
  };
}
