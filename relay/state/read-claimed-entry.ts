import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";
import { entryLines, entryOf } from "./entry-lines.ts";
import type { OutboxEntry } from "./outbox-entry.ts";

/**
 * The callback a run's dedupe marker holds, or null when there is none to read. The claim is a
 * hard link to the staged outbox file (dedupe-store.ts `claimStaged`), and the outbox only ever
 * replaces that file by rename or unlinks it, so the marker keeps the callback as accepted
 * (`attempts: 0`) after it was delivered: what `audit redeliver --force` resends. The staged file
 * is a group commit's batch, one line per callback accepted with it: the line of this key is read.
 * Null for a marker that was pruned (DEDUPE_RETENTION_MS), holds no callback (a claim made without
 * a writable state dir), or holds no line of this key (so a renamed file is never sent).
 */
export async function readClaimedEntry(stateDir: string, dedupeKey: string): Promise<OutboxEntry | null> {
  const path = join(stateDir, "dedupe", `${markerName(dedupeKey)}.json`);
  let text: string;
  try {
    // A marker is a hard link, never a symbolic one: one planted there is not followed.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
  const entries = entryLines(text);
  return entries === null ? null : entryOf(entries, dedupeKey);
}
