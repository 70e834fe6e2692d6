import { createHash, randomBytes } from "node:crypto";
import { readdir, rename, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { ErrorCode } from "../errors/index.ts";
import { markerName } from "./dedupe-store.ts";
import { syncDir, writeAtomic, writeDurable } from "./durable-file.ts";
import { ignoreMissing, isMissing } from "./fs-errors.ts";
import { type LazyDirsOptions, lazyDirs } from "./lazy-dirs.ts";
import { readFileNoFollow } from "./open-no-follow.ts";
import { type FailedOutboxEntry, isEntryShape, type OutboxEntry } from "./outbox-entry.ts";
import {
  HALF_WRITTEN_MS,
  type LeaseKeeperOptions,
  type LeaseView,
  type OutboxLease,
  olderThan,
  openLeases,
} from "./outbox-lease.ts";
import { pidExists } from "./process-owner.ts";
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
   * Write an entry to `staged/` under a name of its own (fsynced) and return its path: the
   * dedupe claim links the marker to it, then promote() makes it the pending entry. Throws
   * STATE_UNWRITABLE.
   */
  stage(entry: OutboxEntry): Promise<string>;
  /** Make a staged file the pending entry for `dedupeKey` (an atomic rename). */
  promote(stagedPath: string, dedupeKey: string): Promise<void>;
  /** Remove a staged file that lost its claim. */
  discard(stagedPath: string): Promise<void>;
  /**
   * Staged files older than a few seconds: left by a crash between claiming and promoting (or by
   * a claim that lost). recover() promotes the ones that hold their key's claim.
   */
  staged(): Promise<Array<{ path: string; entry: OutboxEntry }>>;
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
  /** Release every lease this outbox holds and mark its holder gone. */
  close(): Promise<void>;
}

/** Clock, timer and owner of the outbox's leases (see LeaseKeeperOptions); each has a default. */
export type OutboxOptions = Omit<LeaseKeeperOptions, "ensureDir"> & Pick<LazyDirsOptions, "onTightened">;

/**
 * Open the outbox under `<stateDir>/outbox` (created lazily, folders private: lazy-dirs.ts). Entries
 * are never read through a symbolic link: a link planted at an entry's name is unreadable.
 */
export function openOutbox(stateDir: string, options: OutboxOptions = {}): Outbox {
  const dir = join(stateDir, "outbox");
  const failedDir = join(dir, "failed");
  const stagedDir = join(dir, "staged");
  const unwritable = (error: unknown) => stateUnwritable("the outbox", dir, error);
  const { onTightened, ...leaseOptions } = options;
  const ensureDirs = lazyDirs([failedDir, stagedDir], unwritable, {
    ...(onTightened === undefined ? {} : { onTightened }),
    root: stateDir,
  });
  const entryPath = (folder: string, key: string) => join(folder, `${markerName(key)}.json`);
  const leases = openLeases(dir, { ...leaseOptions, ensureDir: ensureDirs });

  return {
    dir,
    async put(entry) {
      await ensureDirs();
      await writeAtomic(entryPath(dir, entry.callback.dedupeKey), entry).catch((error: unknown) => {
        throw unwritable(error);
      });
    },
    async stage(entry) {
      await ensureDirs();
      const path = join(
        stagedDir,
        `${markerName(entry.callback.dedupeKey)}.${HOST_TAG}.${process.pid}.${randomBytes(4).toString("hex")}.json`,
      );
      try {
        await writeDurable(path, entry);
      } catch (error) {
        await unlink(path).catch(() => undefined);
        throw unwritable(error);
      }
      return path;
    },
    async promote(stagedPath, key) {
      await rename(stagedPath, entryPath(dir, key)).catch((error: unknown) => {
        throw unwritable(error);
      });
      await syncDir(dir);
    },
    async discard(stagedPath) {
      await unlink(stagedPath).catch(() => undefined);
    },
    async staged() {
      const out: Array<{ path: string; entry: OutboxEntry }> = [];
      for (const name of await readdir(stagedDir).catch(() => [] as string[])) {
        const path = join(stagedDir, name);
        // A staged file may belong to an accept in progress: take it only when its process is
        // gone (same host, dead pid: OpenCode restarts in seconds) or it is older than any accept.
        if (!name.endsWith(".json")) continue;
        if (!abandoned(name) && !(await olderThan(path, HALF_WRITTEN_MS))) continue;
        try {
          const parsed: unknown = JSON.parse(await readFileNoFollow(path));
          if (isEntryShape(parsed)) out.push({ path, entry: parsed });
          else await unlink(path).catch(() => undefined);
        } catch {
          // Torn by a crash mid-write: it never claimed anything (the claim links a complete file).
          await unlink(path).catch(() => undefined);
        }
      }
      return out;
    },
    async read(key) {
      try {
        const parsed: unknown = JSON.parse(await readFileNoFollow(entryPath(dir, key)));
        return isEntryShape(parsed) ? parsed : null;
      } catch {
        return null;
      }
    },
    async remove(key) {
      await unlink(entryPath(dir, key)).catch(ignoreMissing);
    },
    async moveToFailed(entry, code, failedAt) {
      await ensureDirs();
      const failed: FailedOutboxEntry = { ...entry, failedAt, code };
      await writeAtomic(entryPath(failedDir, entry.callback.dedupeKey), failed).catch((error: unknown) => {
        throw unwritable(error);
      });
      await unlink(entryPath(dir, entry.callback.dedupeKey)).catch(ignoreMissing);
    },
    async pending() {
      const entries: OutboxEntry[] = [];
      const unreadable: string[] = [];
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!name.endsWith(".json")) continue;
        try {
          const parsed: unknown = JSON.parse(await readFileNoFollow(join(dir, name)));
          if (!isEntryShape(parsed)) throw new Error("not an outbox entry");
          entries.push(parsed);
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
    close: () => leases.close(),
  };
}

/** This host, in staged file names: a pid only says something about processes of the same host. */
const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/** A staged file whose writer (this host, another pid) no longer runs. */
function abandoned(name: string): boolean {
  const [, host, pidText] = name.split(".");
  const pid = Number(pidText);
  return host === HOST_TAG && Number.isInteger(pid) && pid !== process.pid && !pidExists(pid);
}
