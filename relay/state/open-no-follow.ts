import { constants, type Mode } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { RelayError } from "../errors/index.ts";

/** How a file is opened: read, append (created), read-write, or created new (fails if it exists). */
export type NoFollowMode = "r" | "a" | "r+" | "wx";

const FLAGS: Record<NoFollowMode, number> = {
  r: constants.O_RDONLY,
  a: constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT,
  "r+": constants.O_RDWR,
  wx: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
};

/**
 * Open `path` without following a symbolic link at its last component (O_NOFOLLOW): a link
 * planted where the relay keeps a file (the audit log, a rotated file, the head, the key, an
 * outbox entry) would otherwise make it read, append to or cut another file. A link there throws
 * RelayError STATE_SYMLINK_REFUSED; other errors pass through with their errno.
 */
export async function openNoFollow(
  path: string,
  mode: NoFollowMode,
  fileMode: Mode = 0o600,
): Promise<FileHandle> {
  try {
    return await open(path, FLAGS[mode] | constants.O_NOFOLLOW, fileMode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw symlinkRefused(path, error);
    throw error;
  }
}

/** The STATE_SYMLINK_REFUSED error for a link found at `path`. */
export function symlinkRefused(path: string, cause?: unknown): RelayError {
  return new RelayError("STATE_SYMLINK_REFUSED", `refused to follow the symbolic link at ${path}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { path },
  });
}

/** The whole of `path` as UTF-8, never through a symbolic link at it (STATE_SYMLINK_REFUSED). */
export async function readFileNoFollow(path: string): Promise<string> {
  const handle = await openNoFollow(path, "r");
  return handle.readFile("utf8").finally(() => handle.close());
}

/**
 * The first `maxBytes` bytes of `path` as UTF-8 (all of it when shorter), never through a symbolic
 * link: one read, where readFileNoFollow also asks the file's size and reads until the end.
 */
export async function readStartNoFollow(path: string, maxBytes: number): Promise<string> {
  const handle = await openNoFollow(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(maxBytes);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes, 0);
    return buffer.toString("utf8", 0, bytesRead);
  } finally {
    await handle.close();
  }
}
