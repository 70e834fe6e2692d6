import { type FileHandle, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { RelayError } from "../errors/index.ts";
import { isMissing, openNoFollow } from "../state/index.ts";
import { type AuditHead, headPath, listRotated, readHead } from "./audit-files.ts";
import { withAuditLock } from "./audit-lock.ts";

/** One file of the log as it was at snapshot time. */
export interface SnapshotFile {
  path: string;
  handle: FileHandle;
  /** Bytes to read: later appends are not part of the snapshot. */
  size: number;
}

/** A consistent view of a log: its files oldest first and its head, taken at one instant. */
export interface AuditSnapshot {
  files: SnapshotFile[];
  head: AuditHead | null | "malformed";
  /** Files of the log (or its head) that are symbolic links: not opened, not read. */
  refused: string[];
  close(): Promise<void>;
}

const isLinkRefusal = (error: unknown) =>
  error instanceof RelayError && error.code === "STATE_SYMLINK_REFUSED";

/**
 * Open every file of the log (rotated, oldest first, then the active one) and read the head.
 * Taken under the writers' lock when it can be had quickly, so a rotation or an append cannot
 * fall between listing and opening; open handles keep reading the right bytes after a rename.
 * A reader without write access to the folder (reviewing someone else's log) goes lockless.
 */
export async function openAuditSnapshot(path: string): Promise<AuditSnapshot> {
  const take = async (): Promise<AuditSnapshot> => {
    const files: SnapshotFile[] = [];
    const close = async () => {
      await Promise.all(files.map((f) => f.handle.close().catch(() => {})));
    };
    const refused: string[] = [];
    try {
      const head = await readHead(path).catch((error: unknown) => {
        if (!isLinkRefusal(error)) throw error;
        refused.push(headPath(path));
        return null;
      });
      const paths = [...(await listRotated(path)).map((r) => r.path), path];
      for (const file of paths) {
        let handle: FileHandle;
        try {
          handle = await openNoFollow(file, "r");
        } catch (error) {
          if (isMissing(error)) continue;
          if (isLinkRefusal(error)) {
            refused.push(file);
            continue;
          }
          throw error;
        }
        files.push({ path: file, handle, size: 0 });
        files[files.length - 1]!.size = (await handle.stat()).size;
      }
      return { files, head, refused, close };
    } catch (error) {
      await close();
      throw error;
    }
  };

  const folderExists = await stat(dirname(path)).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!folderExists) return { files: [], head: null, refused: [], close: async () => {} };
  try {
    return await withAuditLock(path, take, { retries: 20 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // No lock to be had (read-only folder, or a writer holding it for long): read as is.
    if (code === "EACCES" || code === "EPERM" || code === "EROFS" || code === "ELOCKED") return take();
    throw error;
  }
}
