import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
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
 * Take an abandoned lock out of the way: `true` when the lock is gone (removed here, or released
 * meanwhile), so the caller tries again at once. Only the waiter holding the lock's breaker
 * (`<lock>.break`, made with mkdir like the lock) may remove it, and it judges the lock again under
 * the breaker: the lock must still be the very one judged (same token, or for an ownerless lock the
 * same inode and mtime), and still abandoned. Waiters that judged one dead lock together can then
 * never remove, or move, a lock one of them has since taken anew.
 *
 * What is left: a holder judged abandoned only for being untouched (a process stuck for 10 s, not
 * a dead one) that releases its lock and sees it taken anew between that second judgement and the
 * removal (a dead holder cannot release); and two waiters clearing, at the same instant, a breaker
 * whose own holder died in the middle of a take-over.
 */
async function takeOverAbandoned(dir: string): Promise<boolean> {
  const judged = await stat(dir).catch(() => null);
  if (judged === null) return true;
  const holder = await readHolder(dir);
  if (!abandoned(holder, judged.mtimeMs)) return false;
  const breaker = await takeBreaker(dir);
  if (breaker === null) return false; // another waiter is taking it over
  try {
    const now = await stat(dir).catch(() => null);
    if (now === null) return true;
    const nowHolder = await readHolder(dir);
    const same =
      holder === null
        ? nowHolder === null && now.ino === judged.ino && now.mtimeMs === judged.mtimeMs
        : nowHolder?.token === holder.token;
    if (!same || !abandoned(nowHolder, now.mtimeMs)) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  } finally {
    await release(`${dir}.break`, breaker);
  }
}

/**
 * The lock's breaker, held by the one waiter taking the lock over: its token, or `null` when
 * another waiter holds it. A breaker left by a waiter that died in the middle of a take-over is
 * removed once abandoned itself (its holder dead, or untouched for AUDIT_LOCK_STALE_MS).
 */
async function takeBreaker(dir: string): Promise<string | null> {
  const breaker = `${dir}.break`;
  const token = randomBytes(8).toString("hex");
  try {
    await mkdir(breaker, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") return null;
    const since = await stat(breaker).catch(() => null);
    if (since !== null && abandoned(await readHolder(breaker), since.mtimeMs)) {
      await rm(breaker, { recursive: true, force: true }).catch(() => undefined);
    }
    return null;
  }
  await writeFile(join(breaker, OWNER_FILE), JSON.stringify({ owner: currentOwner(), token }), {
    mode: 0o600,
  }).catch(() => undefined);
  return token;
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
