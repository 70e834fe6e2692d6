import { mkdir, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";
import { writeAtomic } from "./durable-file.ts";
import { ignoreMissing } from "./fs-errors.ts";

/**
 * Nudges: an operator's "attempt this pending callback now" (`audit redeliver --now`) for a
 * callback a live relay holds the lease on. The lease stays with its holder (one sender at a
 * time); the nudge is a file `outbox/nudge/<hash>.json` naming the dedupe key, which the holder
 * looks for while it waits to retry (core/watch-nudges.ts), honours by attempting at once, and
 * removes.
 */
export interface Nudge {
  path: string;
  dedupeKey: string;
  /** Epoch ms (wall clock) when it was written. */
  at: number;
}

/** How often a relay looks for nudges while it runs (core/watch-nudges.ts). */
export const NUDGE_POLL_MS = 2_000; // 2 s

/** A nudge older than this was left by an operator who stopped waiting: removed, not honoured. */
export const NUDGE_MAX_AGE_MS = 60_000; // 1 min

const folder = (outboxDir: string) => join(outboxDir, "nudge");

/** Write a nudge for `dedupeKey` (whole or not at all); returns its path. */
export async function writeNudge(outboxDir: string, dedupeKey: string): Promise<string> {
  await mkdir(folder(outboxDir), { recursive: true, mode: 0o700 });
  const path = join(folder(outboxDir), `${markerName(dedupeKey)}.json`);
  await writeAtomic(path, { dedupeKey, at: Date.now(), pid: process.pid });
  return path;
}

/** The nudges waiting under `outboxDir` (none when the folder does not exist). Never rejects. */
export async function readNudges(outboxDir: string): Promise<Nudge[]> {
  const names = await readdir(folder(outboxDir)).catch(() => [] as string[]);
  const nudges: Nudge[] = [];
  for (const name of names) {
    if (!name.endsWith(".json")) continue;
    const path = join(folder(outboxDir), name);
    try {
      const parsed = JSON.parse(await readFile(path, "utf8")) as { dedupeKey?: unknown; at?: unknown };
      if (typeof parsed.dedupeKey === "string" && typeof parsed.at === "number")
        nudges.push({ path, dedupeKey: parsed.dedupeKey, at: parsed.at });
    } catch {
      // Gone meanwhile, or not a nudge: nothing to honour.
    }
  }
  return nudges;
}

/** Remove a nudge (honoured, or given up on). */
export async function removeNudge(path: string): Promise<void> {
  await unlink(path).catch(ignoreMissing);
}

/** Whether the nudge at `path` is still waiting to be honoured. */
export async function nudgeWaiting(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}
