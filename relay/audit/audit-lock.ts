import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { currentOwner, isOwner, ownerLiveness, type ProcessOwner } from "../state/index.ts";
import { lockPath } from "./audit-files.ts";

/** How hard to try for the lock. */
export interface AuditLockOptions {
  /**
   * Retries before giving up with ELOCKED. The default outlasts the 10 s after which a lock whose
   * holder cannot be judged is taken over. @default 250 (≈ 20–40 s at the 80 ms cap)
   */
  retries?: number;
}

/** A lock not touched for this long, whose holder cannot be judged alive or dead, is taken over. */
export const AUDIT_LOCK_STALE_MS = 10_000;
const OWNER_FILE = "owner.json";

interface Holder {
  owner: ProcessOwner;
  token: string;
}

/**
 * Run `fn` holding the cross-process lock of the audit log at `path`: the directory `<path>.lock`
 * (mkdir is atomic on every local file system, and it works in Bun), holding `owner.json`, who holds
 * it. The log's folder must exist.
 *
 * A process stopped while holding the lock (SIGKILL mid-batch, OpenCode stopped right after a turn)
 * must not make every other writer wait: a waiter that finds the holder dead (same host: pid gone or
 * reused) takes the lock over at once, so the records of a process that is itself stopped soon after
 * are not lost waiting. Any other lock (a holder on another host, one that died between creating
 * the lock and naming itself, an older writer, or a holder stuck for seconds) is taken over once
 * it has not been touched for AUDIT_LOCK_STALE_MS; a holder touches it every half of that.
 */
export async function withAuditLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: AuditLockOptions = {},
): Promise<T> {
  const dir = lockPath(path);
  const token = await acquire(dir, options.retries ?? 250);
  const keepAlive = setInterval(() => {
    const now = new Date();
    utimes(dir, now, now).catch(() => undefined);
  }, AUDIT_LOCK_STALE_MS / 2);
  keepAlive.unref?.();
  try {
    return await fn();
  } finally {
    clearInterval(keepAlive);
    await release(dir, token);
  }
}

async function acquire(dir: string, retries: number): Promise<string> {
  const token = randomBytes(8).toString("hex");
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(dir, { mode: 0o700 });
      // Best effort: a lock whose owner could not be written is only taken over later (stale).
      await writeFile(join(dir, OWNER_FILE), JSON.stringify({ owner: currentOwner(), token }), {
        mode: 0o600,
      }).catch(() => undefined);
      return token;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (await takeOverAbandoned(dir)) continue;
    if (attempt >= retries) {
      throw Object.assign(new Error(`the audit log's lock ${dir} is held by another writer`), {
        code: "ELOCKED",
      });
    }
    const delay = Math.min(80, 1.3 ** attempt) * (1 + Math.random());
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/**
 * Take an abandoned lock out of the way: `true` when the lock is gone (taken over here, or released
 * meanwhile), so the caller tries again at once. The lock is first renamed aside, which only one
 * waiter can do, then checked to be the very lock judged (same token, or for an ownerless lock
 * the same inode and mtime); one that is not (another waiter took the lock over and holds it anew
 * between the judging and the rename) is put back.
 */
async function takeOverAbandoned(dir: string): Promise<boolean> {
  const judged = await stat(dir).catch(() => null);
  if (judged === null) return true;
  const holder = await readHolder(dir);
  if (!abandoned(holder, judged.mtimeMs)) return false;
  const aside = `${dir}.abandoned.${randomBytes(4).toString("hex")}`;
  try {
    await rename(dir, aside);
  } catch {
    return true; // moved or released by someone else: try again
  }
  const moved = await stat(aside).catch(() => null);
  const movedHolder = await readHolder(aside);
  const same =
    holder === null
      ? movedHolder === null && moved?.ino === judged.ino && moved.mtimeMs === judged.mtimeMs
      : movedHolder?.token === holder.token;
  if (!same) {
    // A live lock: give it back. Only a third writer creating the lock in this instant defeats it.
    await rename(aside, dir).catch(() => undefined);
    return false;
  }
  await rm(aside, { recursive: true, force: true }).catch(() => undefined);
  return true;
}

/** Its holder is dead, or it has not been touched for AUDIT_LOCK_STALE_MS (whoever holds it). */
function abandoned(holder: Holder | null, touchedAt: number): boolean {
  if (Date.now() - touchedAt > AUDIT_LOCK_STALE_MS) return true;
  return holder !== null && ownerLiveness(holder.owner) === "dead";
}

async function readHolder(dir: string): Promise<Holder | null> {
  try {
    const value = JSON.parse(await readFile(join(dir, OWNER_FILE), "utf8")) as Partial<Holder>;
    return isOwner(value.owner) && typeof value.token === "string"
      ? { owner: value.owner, token: value.token }
      : null;
  } catch {
    return null;
  }
}

/** Remove the lock, unless it was taken over meanwhile (then it is the new holder's). */
async function release(dir: string, token: string): Promise<void> {
  const holder = await readHolder(dir);
  if (holder !== null && holder.token !== token) return;
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}
