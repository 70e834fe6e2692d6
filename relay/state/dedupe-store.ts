import { createHash } from "node:crypto";
import { link, mkdir, open, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { RelayError } from "../errors/index.ts";

/**
 * At most one callback per `sessionId|runId`, across repeated idles, plugin restarts, and several
 * processes (or relay instances) sharing one state directory (DESIGN.md "Terminal runs and dedupe").
 *
 * One marker file per key, created with O_EXCL (`wx`): the file system decides who claimed a run
 * first, so no lock and no shared memory is needed.
 */
export interface DedupeStore {
  /** The folder holding the markers. */
  readonly dir: string;
  /**
   * Claim a key durably. `true`: this caller now owns the run and must call back; `false`: someone
   * already claimed it. Throws RelayError STATE_UNWRITABLE when the store cannot be written.
   */
  claim(dedupeKey: string): Promise<boolean>;
  /**
   * Claim a key with a file that already holds the callback (the outbox's staged entry): the
   * marker is created as a hard link to it, so the claim and its content appear in one atomic
   * step, and a crash right after claiming leaves the callback on disk for recover().
   * `true`: claimed by this caller; `false`: already claimed. Throws STATE_UNWRITABLE.
   */
  claimStaged(dedupeKey: string, stagedPath: string): Promise<boolean>;
  /** Whether `stagedPath` is the very file that claimed `dedupeKey` (same inode as its marker). */
  isClaimOf(dedupeKey: string, stagedPath: string): Promise<boolean>;
  /** Whether a key has been claimed (by anyone). */
  has(dedupeKey: string): Promise<boolean>;
  /** Remove markers older than `maxAgeMs` (by wall-clock modification time). Returns how many were removed. */
  prune(maxAgeMs: number): Promise<number>;
}

/** Markers are kept this long by default, then pruned on recover(). */
export const DEDUPE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000; // 30 days

/** Open (lazily create) the dedupe store under `<stateDir>/dedupe`. */
export function openDedupeStore(stateDir: string, options: { now?: () => number } = {}): DedupeStore {
  const dir = join(stateDir, "dedupe");
  const now = options.now ?? Date.now;
  let ready: Promise<void> | undefined;
  const ensureDir = () => {
    ready ??= mkdir(dir, { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (error: unknown) => {
        ready = undefined; // a later call may succeed once the disk is fixed
        throw unwritable(dir, error);
      },
    );
    return ready;
  };
  const markerPath = (dedupeKey: string) => join(dir, `${markerName(dedupeKey)}.json`);

  return {
    dir,
    async claim(dedupeKey) {
      await ensureDir();
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(markerPath(dedupeKey), "wx", 0o600);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw unwritable(dir, error);
      }
      // The key inside the marker lets a person map a hash back to its run; the claim itself is
      // the O_EXCL create above, so a failed write below still counts as claimed.
      try {
        await handle.writeFile(`${JSON.stringify({ dedupeKey, claimedAt: now(), pid: process.pid })}\n`);
        await handle.sync();
      } catch {
        // The claim stands; losing its content only loses the human-readable key.
      } finally {
        await handle.close().catch(() => undefined);
      }
      return true;
    },
    async claimStaged(dedupeKey, stagedPath) {
      await ensureDir();
      try {
        await link(stagedPath, markerPath(dedupeKey));
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw unwritable(dir, error);
      }
    },
    async isClaimOf(dedupeKey, stagedPath) {
      try {
        const [marker, staged] = await Promise.all([stat(markerPath(dedupeKey)), stat(stagedPath)]);
        return marker.ino === staged.ino && marker.dev === staged.dev;
      } catch {
        return false;
      }
    },
    async has(dedupeKey) {
      try {
        await stat(markerPath(dedupeKey));
        return true;
      } catch {
        return false;
      }
    },
    async prune(maxAgeMs) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return 0;
      }
      // Modification times are wall-clock: compare with the wall clock, not an injected one.
      const cutoff = Date.now() - maxAgeMs;
      let removed = 0;
      for (const name of names) {
        const path = join(dir, name);
        try {
          if ((await stat(path)).mtimeMs >= cutoff) continue;
          await unlink(path);
          removed++;
        } catch {
          // Pruning is housekeeping: a marker another process removed first is fine.
        }
      }
      return removed;
    },
  };
}

/** A fixed-length file name for any key (keys hold `|`, `:` and arbitrary run ids). */
export function markerName(dedupeKey: string): string {
  return createHash("sha256").update(dedupeKey).digest("hex");
}

function unwritable(dir: string, cause: unknown): RelayError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new RelayError("STATE_UNWRITABLE", `cannot write the dedupe store in ${dir}`, {
    cause,
    details: { path: dir, ...(code === undefined ? {} : { errno: code }) },
  });
}
