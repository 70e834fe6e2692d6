import { createHmac, randomBytes } from "node:crypto";
import { link, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { RelayError } from "../errors/index.ts";
import { ensurePrivateDir, isMissing, openNoFollow } from "../state/index.ts";

/**
 * The audit log's key: 32 random bytes (64 hex digits in a 0600 file, `<stateDir>/audit.key` by
 * default), created on first use. Each record then carries `mac` = HMAC-SHA256(key, its hash) and
 * the head sidecar a MAC of (seq, hash), so someone who can write the log but cannot read the key
 * can no longer reseal an edit or rewrite the head after cutting trailing records. The key is not a
 * credential of anything else and never leaves the state dir.
 */

/** The file name of the key in the state dir. */
export const AUDIT_KEY_FILE = "audit.key";

const KEY_TEXT = /^([0-9a-f]{64})\n?$/;

/** MAC of a record (domain-separated from the head's, so one cannot stand in for the other). */
export function recordMac(key: Buffer, hash: string): string {
  return createHmac("sha256", key).update(`record\n${hash}`).digest("hex");
}

/** MAC of the head sidecar's (seq, hash). */
export function headMac(key: Buffer, seq: number, hash: string): string {
  return createHmac("sha256", key).update(`head\n${seq}\n${hash}`).digest("hex");
}

/**
 * Read the key at `path` (never through a symbolic link). Throws RelayError AUDIT_KEY_UNREADABLE
 * when it is missing, unreadable or not 64 hex digits, STATE_SYMLINK_REFUSED for a link.
 */
export async function readAuditKey(path: string): Promise<Buffer> {
  let text: string;
  try {
    const handle = await openNoFollow(path, "r");
    text = await handle.readFile("utf8").finally(() => handle.close());
  } catch (error) {
    if (error instanceof RelayError) throw error;
    throw keyUnreadable(path, error);
  }
  const match = KEY_TEXT.exec(text);
  if (match?.[1] === undefined) throw keyUnreadable(path, undefined);
  return Buffer.from(match[1], "hex");
}

/**
 * The key at `path`, created (0600, in a 0700 folder) when there is none. It is written whole to a
 * temp file and published with link(2), which fails when the name exists: two processes creating
 * it at once agree on the winner's key, and no one ever reads a half-written key.
 */
export async function loadOrCreateAuditKey(path: string): Promise<Buffer> {
  try {
    return await readAuditKey(path);
  } catch (error) {
    if (!(error instanceof RelayError && error.code === "AUDIT_KEY_UNREADABLE" && isMissing(error.cause)))
      throw error;
  }
  // The state dir's own rule: never written where others can write (STATE_FOLDER_INSECURE).
  await ensurePrivateDir(dirname(path));
  const key = randomBytes(32);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const handle = await openNoFollow(temp, "wx", 0o600);
    try {
      await handle.writeFile(`${key.toString("hex")}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temp, path);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return readAuditKey(path);
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function keyUnreadable(path: string, cause: unknown): RelayError {
  return new RelayError("AUDIT_KEY_UNREADABLE", `cannot use the audit key at ${path}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { path },
  });
}
