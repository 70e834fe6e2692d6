import { randomBytes } from "node:crypto";
import { link, lstat, mkdir, rename, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";
import { ignoreMissing } from "./fs-errors.ts";
import { readFileNoFollow } from "./open-no-follow.ts";
import { pidExists } from "./process-owner.ts";
import { stateUnwritable } from "./state-unwritable.ts";

/**
 * Leases on outbox entries, so two processes (or two relays in one process) sharing a state dir
 * never deliver the same pending callback at once. A lease `<hash>.lease` is a hard link to its
 * holder's file `holders/<holder>.holder` (pid, host, a per-outbox id, when written): `link` fails when the
 * name exists, like O_EXCL, and the lease appears whole in one step. (An O_EXCL file written after
 * it was created could be left empty by a SIGKILL in between, and an empty lease cannot be told
 * from one being written, so recovery had to leave it alone for HALF_WRITTEN_MS.) One operation
 * per lease instead of three is also what a burst of callbacks pays. It carries no heartbeat, so
 * holding it costs no timer: whether the holder is alive is asked when someone else wants the entry.
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
/** How often a holder file's `at` is renewed (on the next lease taken). */
const HOLDER_REFRESH_MS = 10 * 60 * 1000; // 10 min

/**
 * Leases in `dir`, linked to holder files in `holdersDir` (same file system; the caller creates
 * both). `ensureDir` runs before each take.
 * Throws RelayError STATE_UNWRITABLE when a lease file cannot be created.
 */
export function openLeases(
  dir: string,
  options: { ensureDir: () => Promise<void>; holdersDir: string },
): LeaseKeeper {
  const holder = `${process.pid}-${randomBytes(6).toString("hex")}`;
  const held = new Set<string>();
  liveHolders.add(holder);
  const leasePath = (key: string) => join(dir, `${markerName(key)}.lease`);

  const holderPath = join(options.holdersDir, `${holder}.holder`);
  let holderWritten = 0;

  const release = async (key: string) => {
    if (!held.delete(key)) return;
    await unlink(leasePath(key)).catch(() => undefined);
  };
  /**
   * (Re)write the holder file atomically. Rewritten every HOLDER_REFRESH_MS, so a lease's `at` is
   * never much older than the lease: a foreign host judges a lease by it (FOREIGN_LEASE_MAX_MS).
   */
  const writeHolder = async () => {
    // Wall-clock time, not an injected clock: other processes compare it with theirs.
    const at = Date.now();
    const temp = `${holderPath}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, JSON.stringify({ pid: process.pid, host: hostname(), holder, at }), {
      mode: 0o600,
    });
    await rename(temp, holderPath).catch(async (error: unknown) => {
      await unlink(temp).catch(() => undefined);
      throw error;
    });
    holderWritten = at;
  };
  const tryCreate = async (key: string): Promise<boolean> => {
    try {
      if (Date.now() - holderWritten > HOLDER_REFRESH_MS) await writeHolder();
      try {
        await link(holderPath, leasePath(key));
      } catch (error) {
        // The holder file was removed under us (an operator, a foreign host's compaction): rewrite.
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        await writeHolder();
        await link(holderPath, leasePath(key));
      }
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
      await unlink(holderPath).catch(() => undefined);
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
