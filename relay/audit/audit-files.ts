import { randomBytes } from "node:crypto";
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isMissing } from "../state/index.ts";

/**
 * The files one audit log is made of, beside the active `<path>`:
 * - `<path>.1`, `<path>.2`, …: rotated files, oldest = lowest;
 * - `<path>.head`: seq and hash of the last record written, so removing whole trailing records
 *   (which a hash chain alone cannot show) is caught by verify;
 * - `<path>.lock`: the cross-process lock (a directory, see proper-lockfile).
 */

/** The sidecar naming the last record written. */
export interface AuditHead {
  seq: number;
  hash: string;
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

/**
 * Read the head sidecar: `null` when absent, `"malformed"` when it exists but does not hold
 * `{seq, hash}` (verify reports that rather than guessing).
 */
export async function readHead(path: string): Promise<AuditHead | null | "malformed"> {
  let text: string;
  try {
    text = await readFile(headPath(path), "utf8");
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  try {
    const head = JSON.parse(text) as Partial<AuditHead>;
    if (Number.isSafeInteger(head.seq) && typeof head.hash === "string") {
      return { seq: head.seq as number, hash: head.hash };
    }
  } catch {
    // fall through
  }
  return "malformed";
}

/** Replace the head sidecar atomically (temp file + rename), so it is never seen half written. */
export async function writeHead(path: string, head: AuditHead): Promise<void> {
  const temp = `${headPath(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify({ seq: head.seq, hash: head.hash })}\n`, { mode: 0o600 });
    await rename(temp, headPath(path));
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
}
