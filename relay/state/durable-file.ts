import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, writeFileSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * File writes the outbox relies on for durability: a new file flushed to disk before it is used,
 * a replacement a reader sees whole or not at all, and a directory entry made durable.
 */

/** Create `path` (it must not exist) holding `value` as JSON, flushed to disk before returning. */
export async function writeDurable(path: string, value: unknown): Promise<void> {
  await writeDurableLines(path, [value]);
}

/**
 * Create `path` (it must not exist) holding one JSON line per value, flushed to disk with one
 * fsync before returning: a group commit's batch of records pays for one flush, not one each.
 */
export async function writeDurableLines(path: string, values: readonly unknown[]): Promise<void> {
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(jsonLines(values));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * writeDurableLines with synchronous calls, for the few writes a callback waits on before its first
 * attempt. An asynchronous file call in OpenCode's process queues behind OpenCode's own file work
 * (after a turn it re-reads the session's stored messages): in a real `opencode serve` a 1 KB
 * write + fsync took 26 ms after a fresh session's turn and 58 ms after a 100-turn session's
 * (BENCHMARKS.md, history), the same calls made synchronously 1.4 and 1.8 ms. The price is the
 * event loop held for the write and its fsync (about half a millisecond on a local disk), once per
 * group-committed batch, not per callback. `values` may come as their lines already rendered.
 */
export function writeDurableLinesSync(path: string, values: readonly unknown[] | Buffer): void {
  const fd = openSync(path, "wx", 0o600);
  try {
    writeFileSync(fd, Buffer.isBuffer(values) ? values : jsonLines(values));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** One JSON line per value: what a staged batch or a journal entry file holds. */
export function jsonLines(values: readonly unknown[]): string {
  return values.map((value) => `${JSON.stringify(value)}\n`).join("");
}

/**
 * Write JSON so a reader sees the old file or the whole new one, never a torn write. `sync` makes
 * the rename durable; pass a shared (group-committed) sync of the folder to let writes that land
 * together share one directory fsync. @default syncDir of the file's folder
 */
export async function writeAtomic(
  path: string,
  value: unknown,
  sync: () => Promise<void> = () => syncDir(dirname(path)),
): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeDurable(temp, value);
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await sync();
}

/** Make a rename durable; some platforms cannot fsync a directory, which only weakens durability. */
export async function syncDir(path: string): Promise<void> {
  try {
    const handle = await open(path, "r");
    await handle.sync().finally(() => handle.close());
  } catch {
    // best effort
  }
}
