import { unlinkSync } from "node:fs";
import { lstat, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { ErrorCode } from "../errors/index.ts";
import { markerName } from "./dedupe-store.ts";
import { syncDir, writeAtomic } from "./durable-file.ts";
import { entryLines, entryOf } from "./entry-lines.ts";
import { ignoreMissing, isMissing } from "./fs-errors.ts";
import { groupCommit } from "./group-commit.ts";
import { type LazyDirsOptions, lazyDirs } from "./lazy-dirs.ts";
import { readFileNoFollow } from "./open-no-follow.ts";
import type { FailedOutboxEntry, OutboxEntry } from "./outbox-entry.ts";
import {
  HALF_WRITTEN_MS,
  type LeaseKeeperOptions,
  type LeaseView,
  type OutboxLease,
  olderThan,
  openLeases,
} from "./outbox-lease.ts";
import { openStager, type StagedWriter, type StagerOptions } from "./outbox-stager.ts";
import { stateUnwritable } from "./state-unwritable.ts";

export type { LeaseView, OutboxLease } from "./outbox-lease.ts";

/**
 * The write-ahead outbox (DESIGN.md "Delivery"): one JSON file per accepted callback (an
 * OutboxEntry), written before its first attempt and removed once it is delivered, so a crash or
 * restart loses nothing. Final failures move to `failed/` so an operator can redeliver them.
 */
export interface Outbox {
  readonly dir: string;
  /** Write (or overwrite) an entry atomically: temp file, fsync, rename. Throws STATE_UNWRITABLE. */
  put(entry: OutboxEntry): Promise<void>;
  /**
   * Write an entry to `staged/` in the current group-committed batch (one file, one fsync for the
   * callbacks accepted together; outbox-stager.ts) and return the batch's path: the dedupe claim
   * links the marker to it, then promote() makes it the pending entry. Throws STATE_UNWRITABLE.
   */
  stage(entry: OutboxEntry): Promise<string>;
  /**
   * stage() at once, on the caller's stack, in a batch of its own, when nothing else is being staged
   * and the folders exist (outbox-stager.ts); a promise of its path when the write outlived the
   * flusher's wait (flusher.ts); `undefined` when not now.
   */
  stageNow(entry: OutboxEntry): string | Promise<string> | undefined;
  /**
   * Make a staged callback the pending entry for `dedupeKey` (a link to its batch), resolving once
   * its batch's staged name is gone and the entry is durable. Every staged callback must be
   * promoted or discarded.
   */
  promote(stagedPath: string, dedupeKey: string): Promise<void>;
  /**
   * A staged callback that will not be promoted: it lost its claim, or was delivered straight from
   * its batch (markDelivered first). The batch's file goes once the batch is settled; `thenRemove`
   * (a `.delivered` link) only after it.
   */
  discard(stagedPath: string, thenRemove?: string): Promise<void>;
  /**
   * Say, with synchronous calls, that the claimed callback `dedupeKey` was delivered straight from
   * its staged batch: a line in the batch's delivered record, which recovery reads and which goes
   * with the batch. Throws STATE_UNWRITABLE (a full disk: the record needs a data block).
   */
  markDelivered(stagedPath: string, dedupeKey: string): void;
  /**
   * Which callbacks the staged batch at `stagedPath` was marked delivered from (markDelivered), as a
   * test by dedupe key. Rejects when its record exists but cannot be read.
   */
  deliveredFrom(stagedPath: string): Promise<(dedupeKey: string) => boolean>;
  /**
   * Callbacks in staged batches older than a few seconds (or whose writer on this host is dead):
   * left by a crash between claiming and promoting, or by claims that lost. recover() promotes the
   * ones that hold their key's claim, then retires the file. `writerGone`: only the batches whose
   * writer on this host is dead, whatever their age (a running relay's rescan: a live writer may
   * still hold a callback it could not promote in memory).
   */
  staged(only?: { writerGone?: boolean }): Promise<Array<{ path: string; entry: OutboxEntry }>>;
  /**
   * Every callback in `staged/` now, however young, with who wrote its batch: read only. A claimed
   * one not yet promoted is a first attempt in flight, or a crash's leftover recovery will send.
   */
  inStaged(): Promise<Array<{ path: string; entry: OutboxEntry; writer: StagedWriter }>>;
  /** Remove a staged batch file once every claimed callback in it has been promoted. */
  retireStaged(stagedPath: string): Promise<void>;
  /** Which files `staged/` holds now, as file ids (file-id.ts); rejects when it cannot be read. */
  stagedFileIds(): Promise<Set<string>>;
  /**
   * Make the outbox's folders now, so that stageNow() can stage, and the batch file the next lone
   * callback is written into (spare-file.ts; best effort). Throws STATE_UNWRITABLE.
   */
  prepare(): Promise<void>;
  /** The pending entry for a key as it is on disk now, or null when there is none. */
  read(dedupeKey: string): Promise<OutboxEntry | null>;
  /** Forget a delivered entry. */
  remove(dedupeKey: string): Promise<void>;
  /** Move an entry to `failed/` (kept for redelivery). */
  moveToFailed(entry: OutboxEntry, code: ErrorCode, failedAt: number): Promise<void>;
  /**
   * Pending entries as they are on disk now; files that do not parse as entries are named in
   * `unreadable` (file names in the outbox folder). Changes nothing on disk.
   */
  pending(): Promise<{ entries: OutboxEntry[]; unreadable: string[] }>;
  /** Move an unreadable pending file (a name `pending()` reported) to `failed/<name>.unreadable`. */
  setAside(name: string): Promise<void>;
  /**
   * Remove what a crash left behind: temp files older than a write, and leases whose entry is
   * gone and whose holder is dead (never a live holder's).
   */
  compact(): Promise<void>;
  failed(): Promise<FailedOutboxEntry[]>;
  removeFailed(dedupeKey: string): Promise<void>;
  /** Remove failed entries (and set-aside unreadable files) older than `maxAgeMs`; returns how many. */
  pruneFailed(maxAgeMs: number): Promise<number>;
  /**
   * Take the lease on an entry, or null when a live holder has it (never broken, however long it
   * holds it). A dead holder's lease is taken over at once (relay/state/judge-lease.ts). Throws
   * STATE_UNWRITABLE when the lease cannot be written.
   */
  lease(dedupeKey: string): Promise<OutboxLease | null>;
  /** Who holds an entry's lease, as judged now (for a record of why it is left alone). */
  leaseHolder(dedupeKey: string): Promise<LeaseView>;
  /** Remove the spare batch file, release every lease this outbox holds and mark its holder gone. */
  close(): Promise<void>;
}

/** Clock, timer and owner of the outbox's leases (see LeaseKeeperOptions); each has a default. */
export type OutboxOptions = Omit<LeaseKeeperOptions, "ensureDir" | "holdersDir"> &
  Pick<LazyDirsOptions, "onTightened"> &
  Pick<StagerOptions, "flushWaitMs">;

/**
 * Open the outbox under `<stateDir>/outbox` (created lazily, folders private: lazy-dirs.ts). Entries
 * are never read through a symbolic link: a link planted at an entry's name is unreadable.
 */
export function openOutbox(stateDir: string, options: OutboxOptions = {}): Outbox {
  const dir = join(stateDir, "outbox");
  const failedDir = join(dir, "failed");
  const stagedDir = join(dir, "staged");
  const holdersDir = join(dir, "holders");
  const unwritable = (error: unknown) => stateUnwritable("the outbox", dir, error);
  const { onTightened, flushWaitMs, ...leaseOptions } = options;
  const ensureDirs = lazyDirs([failedDir, stagedDir, holdersDir], unwritable, {
    ...(onTightened === undefined ? {} : { onTightened }),
    root: stateDir,
  });
  const entryPath = (folder: string, key: string) => join(folder, `${markerName(key)}.json`);
  const leases = openLeases(dir, { ...leaseOptions, ensureDir: ensureDirs, holdersDir });
  // Renames and links into the outbox folder that land together share one directory fsync.
  const syncOutbox = groupCommit(() => syncDir(dir));
  const syncFailed = groupCommit(() => syncDir(failedDir));
  const stager = openStager({
    outboxDir: dir,
    stagedDir,
    ensureDirs,
    unwritable,
    syncOutbox: () => syncOutbox.add(undefined),
    ...(flushWaitMs === undefined ? {} : { flushWaitMs }),
  });

  return {
    dir,
    async put(entry) {
      await ensureDirs();
      const path = entryPath(dir, entry.callback.dedupeKey);
      await writeAtomic(path, entry, () => syncOutbox.add(undefined)).catch((error: unknown) => {
        throw unwritable(error);
      });
    },
    stage: stager.stage,
    stageNow: stager.stageNow,
    prepare: stager.prepare,
    promote: stager.promote,
    discard: stager.discard,
    markDelivered: stager.markDelivered,
    deliveredFrom: stager.deliveredFrom,
    staged: stager.staged,
    inStaged: stager.inStaged,
    retireStaged: stager.retire,
    stagedFileIds: stager.stagedFileIds,
    async read(key) {
      try {
        const entries = entryLines(await readFileNoFollow(entryPath(dir, key)));
        return entries === null ? null : entryOf(entries, key);
      } catch {
        return null;
      }
    },
    async remove(key) {
      // Synchronous, like the promote's link that made the name (outbox-lease.ts says why).
      try {
        unlinkSync(entryPath(dir, key));
      } catch (error) {
        ignoreMissing(error);
      }
    },
    async moveToFailed(entry, code, failedAt) {
      await ensureDirs();
      const failed: FailedOutboxEntry = { ...entry, failedAt, code };
      const path = entryPath(failedDir, entry.callback.dedupeKey);
      await writeAtomic(path, failed, () => syncFailed.add(undefined)).catch((error: unknown) => {
        throw unwritable(error);
      });
      await unlink(entryPath(dir, entry.callback.dedupeKey)).catch(ignoreMissing);
    },
    async pending() {
      const entries: OutboxEntry[] = [];
      const unreadable: string[] = [];
      // Entries promoted from one batch are names of one file: read each file once.
      const byInode = new Map<string, OutboxEntry[] | null>();
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!name.endsWith(".json")) continue;
        const path = join(dir, name);
        try {
          const { dev, ino } = await lstat(path);
          const inode = `${dev}:${ino}`;
          if (!byInode.has(inode)) byInode.set(inode, entryLines(await readFileNoFollow(path)));
          const entry = (byInode.get(inode) ?? []).find(
            (e) => `${markerName(e.callback.dedupeKey)}.json` === name,
          );
          if (entry === undefined) throw new Error("not an outbox entry");
          entries.push(entry);
        } catch (error) {
          if (isMissing(error)) continue; // delivered meanwhile
          unreadable.push(name);
        }
      }
      return { entries, unreadable };
    },
    async setAside(name) {
      await rename(join(dir, name), join(failedDir, `${name}.unreadable`)).catch(() => undefined);
    },
    async compact() {
      const names = await readdir(dir).catch(() => [] as string[]);
      const present = new Set(names);
      for (const name of names) {
        const path = join(dir, name);
        if (name.endsWith(".tmp")) {
          // A temp file left by a crash before its rename never became an entry.
          if (await olderThan(path, HALF_WRITTEN_MS)) await unlink(path).catch(() => undefined);
        } else if (name.endsWith(".lease") && !present.has(name.replace(/\.lease$/, ".json"))) {
          // A lease without its entry: a crash between delivery and release, or an accept in
          // progress (its holder is alive, so the sweep leaves it alone).
          await leases.sweep(path);
        }
      }
      for (const name of await readdir(holdersDir).catch(() => [] as string[])) {
        const path = join(holdersDir, name);
        // The file a dead process's leases linked to (its leases are judged on their own), or a
        // temp file of one that died writing it.
        if (name.endsWith(".holder")) await leases.sweep(path);
        else if (await olderThan(path, HALF_WRITTEN_MS)) await unlink(path).catch(() => undefined);
      }
    },
    async failed() {
      const out: FailedOutboxEntry[] = [];
      for (const name of await readdir(failedDir).catch(() => [] as string[])) {
        if (!name.endsWith(".json")) continue;
        try {
          out.push(JSON.parse(await readFileNoFollow(join(failedDir, name))) as FailedOutboxEntry);
        } catch {
          // Unreadable failed entries cannot be redelivered; they stay on disk for a person.
        }
      }
      return out;
    },
    async pruneFailed(maxAgeMs) {
      let removed = 0;
      for (const name of await readdir(failedDir).catch(() => [] as string[])) {
        const path = join(failedDir, name);
        if (!(await olderThan(path, maxAgeMs))) continue;
        await unlink(path).then(
          () => removed++,
          () => undefined,
        );
      }
      return removed;
    },
    async removeFailed(key) {
      await unlink(entryPath(failedDir, key)).catch(ignoreMissing);
    },
    lease: (key) => leases.take(key),
    leaseHolder: (key) => leases.inspect(key),
    async close() {
      await stager.close();
      await leases.close();
    },
  };
}
