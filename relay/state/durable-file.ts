import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * File writes the outbox relies on for durability: a new file flushed to disk before it is used,
 * a replacement a reader sees whole or not at all, and a directory entry made durable.
 */

/** Create `path` (it must not exist) holding `value` as JSON, flushed to disk before returning. */
export async function writeDurable(path: string, value: unknown): Promise<void> {
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(value)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write JSON so a reader sees the old file or the whole new one, never a torn write. */
export async function writeAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeDurable(temp, value);
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDir(dirname(path));
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
