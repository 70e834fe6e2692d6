import { isEntryShape, type OutboxEntry } from "./outbox-entry.ts";

/**
 * The entries an outbox file holds, one JSON line each. A file written by `put()` holds one; a
 * staged batch holds a group commit's worth, and every name linked to it (the dedupe markers, the
 * pending entries promoted from it) reads the same lines, so a reader picks the line of its key;
 * NULs after the last line (a batch file made ahead, spare-file.ts) are not a line.
 * null when any line is not an entry: the file is torn or foreign, never half-trusted.
 */
export function entryLines(text: string): OutboxEntry[] | null {
  const entries: OutboxEntry[] = [];
  // A batch written into a file made ahead is followed by the NULs it was made of (spare-file.ts).
  for (const line of text.replace(TRAILING_NULS, "").split("\n")) {
    if (line === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return null;
    }
    if (!isEntryShape(parsed)) return null;
    entries.push(parsed);
  }
  return entries.length > 0 ? entries : null;
}

/** The entry of `dedupeKey` in a file's lines (the first, should a batch hold it twice). */
export function entryOf(entries: readonly OutboxEntry[], dedupeKey: string): OutboxEntry | null {
  return entries.find((entry) => entry.callback.dedupeKey === dedupeKey) ?? null;
}

/** NULs at the end of a file, after its last line. */
const TRAILING_NULS = /\0+$/;
