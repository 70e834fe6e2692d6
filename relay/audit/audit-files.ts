import { randomBytes } from "node:crypto";
import { readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isMissing, openNoFollow } from "../state/index.ts";

/**
 * The files one audit log is made of, beside the active `<path>`:
 * - `<path>.1`, `<path>.2`, …: rotated files, oldest = lowest;
 * - `<path>.head`: seq and hash of the last record written, so removing whole trailing records
 *   (which a hash chain alone cannot show) is caught by verify;
 * - `<path>.lock`: the cross-process lock (a directory naming its holder, audit-lock.ts).
 */

/** The sidecar naming the last record written. */
export interface AuditHead {
  seq: number;
  hash: string;
  /** HMAC of (seq, hash) under the log's key, when the log is keyed (audit-key.ts). */
  mac?: string;
}

/** `<path>.<n>`: the n-th rotated file (1 = oldest). */
export function rotatedPath(path: string, n: number): string {
  return `${path}.${n}`;
}

/** `<path>.head` */
export function headPath(path: string): string {
  return `${path}.head`;
}

/** `<path>.lock` */
export function lockPath(path: string): string {
  return `${path}.lock`;
}

/** Rotated files of the log, oldest first; empty when the folder does not exist. */
export async function listRotated(path: string): Promise<{ index: number; path: string }[]> {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  const rotated: { index: number; path: string }[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const suffix = name.slice(prefix.length);
    if (/^[1-9][0-9]{0,8}$/.test(suffix))
      rotated.push({ index: Number(suffix), path: join(dirname(path), name) });
  }
  return rotated.sort((a, b) => a.index - b.index);
}

// The head is one short line; anything longer was not written by the relay.
const MAX_HEAD_BYTES = 4096;

/**
 * Read the head sidecar (never through a symbolic link: STATE_SYMLINK_REFUSED): `null` when
 * absent, `"malformed"` when it exists but does not hold `{seq, hash}` (verify reports that
 * rather than guessing).
 */
export async function readHead(path: string): Promise<AuditHead | null | "malformed"> {
  let text: string;
  try {
    const handle = await openNoFollow(headPath(path), "r");
    try {
      const buffer = Buffer.alloc(MAX_HEAD_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_HEAD_BYTES) return "malformed";
      text = buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  try {
    const head = JSON.parse(text) as Partial<AuditHead>;
    if (Number.isSafeInteger(head.seq) && typeof head.hash === "string") {
      return typeof head.mac === "string"
        ? { seq: head.seq as number, hash: head.hash, mac: head.mac }
        : { seq: head.seq as number, hash: head.hash };
    }
  } catch {
    // fall through
  }
  return "malformed";
}

/**
 * Replace the head sidecar atomically (a new temp file, never through a link, then a rename, which
 * replaces whatever stands at the head's name without following it), so it is never seen half
 * written.
 */
export async function writeHead(path: string, head: AuditHead): Promise<void> {
  const temp = `${headPath(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const handle = await openNoFollow(temp, "wx", 0o600);
    await handle.writeFile(`${JSON.stringify(head)}\n`).finally(() => handle.close());
    await rename(temp, headPath(path));
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
}
