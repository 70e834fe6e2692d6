import { createHash } from "node:crypto";
import { linkSync, lstatSync, type Stats } from "node:fs";
import { lstat, open, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fileId } from "./file-id.ts";
import { type LazyDirsOptions, lazyDirs } from "./lazy-dirs.ts";
import { symlinkRefused } from "./open-no-follow.ts";
import { stateUnwritable } from "./state-unwritable.ts";

/**
 * At most one callback per `sessionId|runId`, across repeated idles, plugin restarts, and several
 * processes (or relay instances) sharing one state directory (DESIGN.md "Terminal runs and dedupe").
 *
 * One marker file per key, created as a hard link (which fails when the name exists): the file
 * system decides who claimed a run first, so no lock and no shared memory is needed.
 */
export interface DedupeStore {
  /** The folder holding the markers. */
  readonly dir: string;
  /**
   * Claim a key with a file that already holds the callback (the outbox's staged entry): the
   * marker is created as a hard link to it, so the claim and its content appear in one atomic
   * step, and a crash right after claiming leaves the callback on disk for recover().
   * `true`: claimed by this caller; `false`: already claimed. Throws STATE_UNWRITABLE.
   */
  claimStaged(dedupeKey: string, stagedPath: string): Promise<boolean>;
  /**
   * claimStaged() at once, on the caller's stack, once the store's folder exists; `undefined` before
   * that (use claimStaged()). Throws like claimStaged().
   */
  claimStagedNow(dedupeKey: string, stagedPath: string): boolean | undefined;
  /**
   * Claim a run that was already delivered from memory (its callback could not be staged: a full
   * disk). The marker is an empty file: creating one needs an inode and a name, no data block, so
   * it still works on a disk too full for any write. An existing marker is fine. Throws
   * STATE_UNWRITABLE when not even that can be created.
   */
  markDelivered(dedupeKey: string): Promise<void>;
  /**
   * Say, at once and with one synchronous call, that the callback of a staged claim was delivered
   * straight from its batch (never promoted): `<marker>.delivered`, one more link to the batch.
   * Outbox.markDelivered's line in the batch's record says it for less; this link is for when that
   * line cannot be written (a full disk: a link needs a name, no data block), and older versions
   * made it for every such callback. The marker keeps linking the batch (`audit redeliver --force`
   * reads the callback there), and recovery, which promotes a staged callback that still holds its
   * claim, passes by one that also has this link (deliveredFrom). Returns the link's path: remove
   * it once the batch's staged name is gone (Outbox.discard's `thenRemove`). Throws
   * STATE_UNWRITABLE.
   */
  markStagedDelivered(dedupeKey: string, stagedPath: string): string;
  /** Whether markStagedDelivered() was done for `dedupeKey` with this very staged file. */
  deliveredFrom(dedupeKey: string, stagedPath: string): Promise<boolean>;
  /** Remove markStagedDelivered()'s link once its staged batch is gone (recovery retired it). */
  removeDeliveredMark(dedupeKey: string): Promise<void>;
  /**
   * Remove the `.delivered` links whose batch's staged name is gone: a crash between removing the
   * staged name and the link leaves one (outbox-stager.ts `settle`). `stagedFiles` gives the
   * staged files' ids (file-id.ts); it is asked after the links are listed, so a link made since is
   * not looked at, and a listed link whose batch is not among them never will be again (a staged
   * name, once removed, is never made again). Returns how many were removed; rejects, removing
   * nothing, when `stagedFiles` does.
   */
  dropOrphanDeliveredMarks(stagedFiles: () => Promise<Set<string>>): Promise<number>;
  /** Whether `stagedPath` is the very file that claimed `dedupeKey` (same inode as its marker). */
  isClaimOf(dedupeKey: string, stagedPath: string): Promise<boolean>;
  /**
   * Whether anyone has claimed `dedupeKey`: a marker exists as a regular file, whatever it holds (an
   * empty one from markDelivered too). Never throws: unreadable is false (the claim itself, an
   * O_EXCL link, stays the gate).
   */
  isClaimed(dedupeKey: string): Promise<boolean>;
  /** Remove markers older than `maxAgeMs` (by wall-clock modification time). Returns how many were removed. */
  prune(maxAgeMs: number): Promise<number>;
  /** Make the store's folder now, so that claimStagedNow() can claim. Throws STATE_UNWRITABLE. */
  prepare(): Promise<void>;
}

/** Markers are kept this long by default, then pruned on recover(). */
export const DEDUPE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000; // 30 days

/**
 * Open (lazily create) the dedupe store under `<stateDir>/dedupe` (folders private: lazy-dirs.ts).
 * A marker is only ever a regular file: a symbolic link planted at a marker's name is neither a
 * claim nor a reason to skip the run (STATE_SYMLINK_REFUSED).
 */
export function openDedupeStore(
  stateDir: string,
  folders: Pick<LazyDirsOptions, "onTightened"> = {},
): DedupeStore {
  const dir = join(stateDir, "dedupe");
  const ensureDir = lazyDirs([dir], (error) => stateUnwritable("the dedupe store", dir, error), {
    ...folders,
    root: stateDir,
  });
  const markerPath = (dedupeKey: string) => join(dir, `${markerName(dedupeKey)}.json`);
  const deliveredPath = (dedupeKey: string) => join(dir, `${markerName(dedupeKey)}.delivered`);

  /** Synchronous, like the staged write it links: the first attempt waits on it. */
  const claim = (dedupeKey: string, stagedPath: string): boolean => {
    try {
      linkSync(stagedPath, markerPath(dedupeKey));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST")
        throw stateUnwritable("the dedupe store", dir, error);
      // Taken: by a claim (a regular file), unless someone planted a link there.
      let existing: Stats | null = null;
      try {
        existing = lstatSync(markerPath(dedupeKey));
      } catch {
        // Gone again (pruned): still not ours; the claim stays lost.
      }
      if (existing?.isSymbolicLink()) throw symlinkRefused(markerPath(dedupeKey));
      return false;
    }
  };

  /** Whether the file at `path` (never followed) is the staged file at `stagedPath`. */
  const sameFile = async (path: string, stagedPath: string) => {
    try {
      // lstat: a link pointing at the staged file is not the file.
      const [marker, staged] = await Promise.all([lstat(path), lstat(stagedPath)]);
      return marker.isFile() && marker.ino === staged.ino && marker.dev === staged.dev;
    } catch {
      return false;
    }
  };

  return {
    dir,
    markStagedDelivered(dedupeKey, stagedPath) {
      const path = deliveredPath(dedupeKey);
      try {
        linkSync(stagedPath, path);
      } catch (error) {
        // EEXIST: made already. A file planted there instead is not a link to this batch, which
        // deliveredFrom tells: a crash would then resend the callback, never lose it.
        if ((error as NodeJS.ErrnoException).code !== "EEXIST")
          throw stateUnwritable("the dedupe store", dir, error);
      }
      return path;
    },
    deliveredFrom: (dedupeKey, stagedPath) => sameFile(deliveredPath(dedupeKey), stagedPath),
    async removeDeliveredMark(dedupeKey) {
      await unlink(deliveredPath(dedupeKey)).catch(() => undefined);
    },
    async dropOrphanDeliveredMarks(stagedFiles) {
      const marks: Array<{ path: string; id: string }> = [];
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!name.endsWith(".delivered")) continue;
        const path = join(dir, name);
        const id = await fileId(path).catch(() => undefined); // unreadable: left for prune
        if (id !== undefined) marks.push({ path, id });
      }
      if (marks.length === 0) return 0;
      const staged = await stagedFiles();
      let removed = 0;
      for (const mark of marks) {
        if (staged.has(mark.id)) continue;
        if (
          await unlink(mark.path).then(
            () => true,
            () => false,
          )
        )
          removed += 1;
      }
      return removed;
    },
    async claimStaged(dedupeKey, stagedPath) {
      await ensureDir();
      return claim(dedupeKey, stagedPath);
    },
    claimStagedNow(dedupeKey, stagedPath) {
      return ensureDir.made ? claim(dedupeKey, stagedPath) : undefined;
    },
    prepare: () => ensureDir(),
    async markDelivered(dedupeKey) {
      try {
        await ensureDir();
        await (await open(markerPath(dedupeKey), "wx", 0o600)).close();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
        throw stateUnwritable("the dedupe store", dir, error);
      }
    },
    isClaimOf: (dedupeKey, stagedPath) => sameFile(markerPath(dedupeKey), stagedPath),
    async isClaimed(dedupeKey) {
      // lstat: a link planted at a marker's name is not a claim (see above).
      return lstat(markerPath(dedupeKey)).then(
        (info) => info.isFile(),
        () => false,
      );
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

/** Names of recent keys: one callback's key is named half a dozen times (claim, promote, lease, forget). */
const recentNames = new Map<string, string>();
const RECENT_NAMES = 1_024;

/** A fixed-length file name for any key (keys hold `|`, `:` and arbitrary run ids). */
export function markerName(dedupeKey: string): string {
  let name = recentNames.get(dedupeKey);
  if (name === undefined) {
    name = createHash("sha256").update(dedupeKey).digest("hex");
    if (recentNames.size >= RECENT_NAMES) recentNames.clear();
    recentNames.set(dedupeKey, name);
  }
  return name;
}
