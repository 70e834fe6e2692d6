import { randomBytes } from "node:crypto";
import { lstat, mkdir, open, rmdir, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";
import { ignoreMissing } from "./fs-errors.ts";
import { readFileNoFollow } from "./open-no-follow.ts";
import { pidExists } from "./process-owner.ts";
import { stateUnwritable } from "./state-unwritable.ts";

/**
 * Leases on outbox entries, so two processes (or two relays in one process) sharing a state dir
 * never deliver the same pending callback at once. A lease is an O_EXCL file `<hash>.lease` naming
 * its holder (pid, host, a per-outbox id). It carries no heartbeat, so holding it costs no timer:
 * whether the holder is alive is asked when someone else wants the entry.
 */
export interface OutboxLease {
  readonly dedupeKey: string;
  release(): Promise<void>;
}

export interface LeaseKeeper {
  /** Take the lease on an entry, or null when a live holder has it. Stale leases are broken. */
  take(dedupeKey: string): Promise<OutboxLease | null>;
  /** Release every lease this keeper holds and mark its holder gone. */
  close(): Promise<void>;
}

/** Holders (one per keeper) alive in this process: a lease of ours whose holder closed is stale. */
const liveHolders = new Set<string>();
/** A lease held from another host cannot be checked for liveness; trust it this long. */
export const FOREIGN_LEASE_MAX_MS = 60 * 60 * 1000; // 1 h
/** A lease or break-lock file still empty after this long was left by a crash mid-create. */
export const HALF_WRITTEN_MS = 10_000;

/**
 * Leases in `dir` (which the caller creates). `ensureDir` runs before each take.
 * Throws RelayError STATE_UNWRITABLE when a lease file cannot be created.
 */
export function openLeases(dir: string, options: { ensureDir: () => Promise<void> }): LeaseKeeper {
  const holder = `${process.pid}-${randomBytes(6).toString("hex")}`;
  const held = new Set<string>();
  liveHolders.add(holder);
  const leasePath = (key: string) => join(dir, `${markerName(key)}.lease`);

  const release = async (key: string) => {
    if (!held.delete(key)) return;
    await unlink(leasePath(key)).catch(() => undefined);
  };
  const tryCreate = async (key: string): Promise<boolean> => {
    try {
      const handle = await open(leasePath(key), "wx", 0o600);
      // Wall-clock time, not an injected clock: other processes compare it with theirs.
      const content = { pid: process.pid, host: hostname(), holder, at: Date.now() };
      await handle.writeFile(JSON.stringify(content)).finally(() => handle.close());
      held.add(key);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw stateUnwritable("a lease", dir, error);
    }
  };

  return {
    async take(key) {
      if (held.has(key)) return null;
      await options.ensureDir();
      if (!(await tryCreate(key))) {
        if (!(await breakIfStale(leasePath(key)))) return null;
        if (!(await tryCreate(key))) return null;
      }
      return { dedupeKey: key, release: () => release(key) };
    },
    async close() {
      liveHolders.delete(holder);
      await Promise.all([...held].map(release));
    },
  };
}

/**
 * Break a lease whose holder is gone: a dead pid on this host, a closed outbox in this process,
 * or a foreign host's lease past FOREIGN_LEASE_MAX_MS. The break runs under a mkdir lock so two
 * breakers cannot both remove a lease and then both take a fresh one.
 */
export async function breakIfStale(path: string): Promise<boolean> {
  const lock = `${path}.breaking`;
  try {
    await mkdir(lock, { mode: 0o700 });
  } catch {
    if (await olderThan(lock, HALF_WRITTEN_MS)) await rmdirQuiet(lock);
    return false;
  }
  try {
    // A link where a lease belongs was planted, never written by a holder: remove the link (not
    // its target) so the entry is not blocked for good.
    if ((await lstat(path).catch(() => null))?.isSymbolicLink()) {
      await unlink(path).catch(ignoreMissing);
      return true;
    }
    const text = await readFileNoFollow(path).catch(() => null);
    if (text === null) return true; // released meanwhile: free to take
    if (!isStale(text, Date.now()) && !(text === "" && (await olderThan(path, HALF_WRITTEN_MS)))) {
      return false;
    }
    await unlink(path).catch(ignoreMissing);
    return true;
  } finally {
    await rmdirQuiet(lock);
  }
}

function isStale(text: string, at: number): boolean {
  let lease: { pid?: unknown; host?: unknown; holder?: unknown; at?: unknown };
  try {
    lease = JSON.parse(text);
  } catch {
    return false; // being written right now; the empty/half-written case is timed by the caller
  }
  if (lease.host !== hostname()) return typeof lease.at !== "number" || at - lease.at > FOREIGN_LEASE_MAX_MS;
  if (lease.pid === process.pid) return !liveHolders.has(String(lease.holder));
  return typeof lease.pid !== "number" || !pidExists(lease.pid);
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

async function rmdirQuiet(path: string): Promise<void> {
  await rmdir(path).catch(() => undefined);
}
