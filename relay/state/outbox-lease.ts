import { randomBytes } from "node:crypto";
import { linkSync, unlinkSync, utimesSync } from "node:fs";
import { lstat, mkdir, rmdir, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";
import { ignoreMissing, isMissing } from "./fs-errors.ts";
import { holderFile } from "./holder-file.ts";
import { HALF_WRITTEN_MS, judgeLease, LEASE_RENEW_MS, type LeaseHolderState } from "./judge-lease.ts";
import { readFileNoFollow, readStartNoFollow } from "./open-no-follow.ts";
import { currentOwner, type ProcessOwner } from "./process-owner.ts";
import { stateUnwritable } from "./state-unwritable.ts";
import { type Schedule, unrefTimeout } from "./unref-timeout.ts";

export { HALF_WRITTEN_MS, LEASE_RENEW_MS, LEASE_STALE_MS, type LeaseHolderState } from "./judge-lease.ts";

/**
 * Leases on outbox entries, so two processes (or two relays in one process) sharing a state dir
 * never deliver the same pending callback at once. A lease `<hash>.lease` names its holder by owner
 * (host, boot id, pid, process start time: relay/state/process-owner.ts) and a per-keeper id. It is
 * a hard link to its keeper's holder file `holders/<holder>.holder`: `link` fails when the name
 * exists, like O_EXCL, and the lease appears whole in one step. (An O_EXCL file written after it
 * was created is left empty by a SIGKILL in between, and an empty lease cannot be told from one
 * being written, so recovery had to leave it for HALF_WRITTEN_MS and the callback waited for the
 * next start.) One file operation per lease instead of three is also what a burst pays. A keeper renews every lease it holds (the file's modification time) on one timer,
 * so a holder on another host, whose process cannot be checked from here, shows it still works.
 * Whether a holder lives is asked when someone else wants the entry (judge-lease.ts).
 */
export interface OutboxLease {
  readonly dedupeKey: string;
  release(): Promise<void>;
}

/** Who holds a lease now, for a record: `free` when nobody does. */
export interface LeaseView {
  state: LeaseHolderState | "free";
  owner?: ProcessOwner;
  /** The lease's last renewal, epoch ms. */
  renewedAt?: number;
}

export interface LeaseKeeper {
  /** Take the lease on an entry, or null when a live holder has it. A dead holder's lease is taken over. */
  take(dedupeKey: string): Promise<OutboxLease | null>;
  /** Who holds an entry's lease, as judged now. */
  inspect(dedupeKey: string): Promise<LeaseView>;
  /** Remove the lease file at `path` when its holder is dead (an orphan lease). Never throws. */
  sweep(path: string): Promise<void>;
  /** Release every lease this keeper holds, stop renewing, and mark its holder gone. */
  close(): Promise<void>;
}

export interface LeaseKeeperOptions {
  /** Creates the folders; runs before each take. */
  ensureDir: () => Promise<void>;
  /** Where the keeper's holder file goes (same file system as the leases; `ensureDir` creates it). */
  holdersDir: string;
  /** Epoch-ms clock that stamps renewals and judges their age. @default Date.now */
  now?: () => number;
  /** Runs `fn` after `delayMs` and returns a cancel function. @default an unref'd setTimeout */
  schedule?: Schedule;
  /** Injected for tests: the owner this keeper names in its leases. @default currentOwner() */
  owner?: ProcessOwner;
}

/** Bytes of a lease read to tell whether it is ours: a holder file (owner, holder id) is far shorter. */
const HOLDER_READ_BYTES = 8 * 1024;

/** Keepers open in this process, by holder id: a lease of ours whose keeper closed is dead. */
const liveHolders = new Set<string>();

/** Leases in `dir` (which `ensureDir` creates). Throws RelayError STATE_UNWRITABLE when a lease cannot be written. */
export function openLeases(dir: string, options: LeaseKeeperOptions): LeaseKeeper {
  const now = options.now ?? Date.now;
  const schedule = options.schedule ?? unrefTimeout;
  const owner = options.owner ?? currentOwner();
  const holder = `${owner.pid}-${randomBytes(6).toString("hex")}`;
  const held = new Set<string>();
  let cancelRenewal: (() => void) | undefined;
  let isOpen = true;
  // A keeper naming another owner (a test's other host) is judged as that owner, never as ours.
  if (owner === currentOwner()) liveHolders.add(holder);
  const leasePath = (key: string) => join(dir, `${markerName(key)}.lease`);

  /** One timer for every lease this keeper holds, armed only while it holds one. */
  const armRenewal = () => {
    if (cancelRenewal !== undefined || held.size === 0 || !isOpen) return;
    cancelRenewal = schedule(() => {
      cancelRenewal = undefined;
      void renewAll().finally(armRenewal);
    }, LEASE_RENEW_MS);
  };
  const renewAll = async () => {
    const at = new Date(now());
    stampedAt = at.getTime();
    for (const key of [...held]) {
      // Gone means someone took it over: it is no longer ours to renew or to remove.
      await utimes(leasePath(key), at, at).catch((error: unknown) => {
        if (isMissing(error)) held.delete(key);
      });
    }
  };
  /** The holder file every lease of this keeper links to (holder-file.ts). */
  const holderOnDisk = holderFile(join(options.holdersDir, `${holder}.holder`), () =>
    JSON.stringify({ v: 2, owner, holder, takenAt: now() }),
  );
  const holderPath = holderOnDisk.path;
  // Still ours only while it links our holder file or names our holder (a lease taken over names
  // its new one). The lease is read only when it is not a link to ours: a copy of our holder file,
  // or a file system whose inode numbers say nothing. A holder file is one short line: its start
  // is enough.
  const isOurs = async (path: string) =>
    (await readStartNoFollow(path, HOLDER_READ_BYTES).catch(() => "")).includes(holder);
  const releasing = new Set<Promise<void>>();
  const unlinkLease = (path: string) => {
    try {
      unlinkSync(path);
    } catch {
      // Gone already (taken over and released, or removed by hand): nothing of ours is left.
    }
  };
  /**
   * A lease that links our holder file is ours: released with two synchronous calls (lstat,
   * unlink), like the link that took it (see tryCreate). Only a lease that does not (a copy of our
   * holder file, a file system whose inode numbers say nothing, a lease taken over) is read.
   */
  const release = (key: string): Promise<void> => {
    if (!held.delete(key)) return Promise.resolve();
    const path = leasePath(key);
    if (holderOnDisk.linksNow(path)) {
      unlinkLease(path);
      return Promise.resolve();
    }
    const done = (async () => {
      if (await isOurs(path)) unlinkLease(path);
    })().finally(() => releasing.delete(done));
    releasing.add(done);
    return done;
  };
  let holderWritten = false;
  /** When the holder file's time was last set (written, stamped or renewed), keeper's clock. */
  let stampedAt = Number.NEGATIVE_INFINITY;
  const writeHolder = async () => {
    await holderOnDisk.write();
    holderWritten = true;
    stampedAt = now();
  };
  /**
   * The lease is linked with a synchronous call, as the claim before it (dedupe-store.ts) and the
   * promote after it (outbox-stager.ts) are: a link costs ~10 µs of the event loop, while the same
   * call made asynchronously costs more of it (a request, a thread-pool hop, a promise), and in
   * OpenCode's process waits behind OpenCode's own file work (durable-file.ts). A callback is
   * leased only when its first attempt did not deliver it or took long (pending-callback.ts);
   * BENCHMARKS.md, section 11.
   */
  const tryCreate = async (key: string): Promise<boolean> => {
    const at = now();
    try {
      if (!holderWritten) await writeHolder();
      try {
        linkSync(holderPath, leasePath(key));
      } catch (error) {
        // The holder file was removed under us (an operator, a sweep): write it again.
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        await writeHolder();
        linkSync(holderPath, leasePath(key));
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw stateUnwritable("a lease", dir, error);
    }
    // A link does not touch the file's time: stamp the new lease as renewed now unless the holder
    // file (one inode for all of this keeper's leases) was stamped within a renewal interval. An
    // injected clock stamps every time, as renewals use it.
    if (options.now !== undefined || at - stampedAt > LEASE_RENEW_MS) {
      try {
        utimesSync(leasePath(key), new Date(at), new Date(at));
      } catch {
        // Stamped at the next renewal; until then the holder file's own time stands for it.
      }
      stampedAt = at;
    }
    held.add(key);
    armRenewal();
    return true;
  };
  const judge = async (path: string): Promise<LeaseView> => {
    try {
      // A link where a lease belongs was planted, never written by a holder: judged dead, so the
      // break removes the link (never its target) and the entry is not blocked for good.
      if ((await lstat(path)).isSymbolicLink()) return { state: "dead" };
      const [text, info] = await Promise.all([readFileNoFollow(path), stat(path)]);
      const facts = { text, renewedAt: info.mtimeMs, now: now(), wallNow: Date.now(), liveHolders };
      return { ...judgeLease(facts), renewedAt: info.mtimeMs };
    } catch {
      return { state: "free" }; // released meanwhile
    }
  };
  /** Break a dead holder's lease under a mkdir lock, so two breakers cannot both take it. */
  const breakIfDead = async (path: string): Promise<boolean> => {
    const lock = `${path}.breaking`;
    try {
      await mkdir(lock, { mode: 0o700 });
    } catch {
      if (await olderThan(lock, HALF_WRITTEN_MS)) await rmdir(lock).catch(() => undefined);
      return false;
    }
    try {
      const { state } = await judge(path);
      if (state === "free") return true;
      if (state !== "dead") return false;
      await unlink(path).catch(ignoreMissing);
      return true;
    } finally {
      await rmdir(lock).catch(() => undefined);
    }
  };

  return {
    async take(key) {
      if (held.has(key)) return null;
      await options.ensureDir();
      if (!(await tryCreate(key))) {
        if (!(await breakIfDead(leasePath(key)))) return null;
        if (!(await tryCreate(key))) return null;
      }
      return { dedupeKey: key, release: () => release(key) };
    },
    inspect: (key) => judge(leasePath(key)),
    async sweep(path) {
      await breakIfDead(path).catch(() => false);
    },
    async close() {
      isOpen = false;
      liveHolders.delete(holder);
      cancelRenewal?.();
      cancelRenewal = undefined;
      await Promise.all([...held].map(release));
      await Promise.all([...releasing]);
      await unlink(holderPath).catch(() => undefined);
      await holderOnDisk.close();
    },
  };
}

/**
 * Whether a file was last modified more than `ageMs` ago (false when it is gone). Wall-clock time:
 * file times come from the kernel, never from an injected test clock.
 */
export async function olderThan(path: string, ageMs: number): Promise<boolean> {
  try {
    return (await stat(path)).mtimeMs < Date.now() - ageMs;
  } catch {
    return false;
  }
}
