import { randomBytes } from "node:crypto";
import { lstatSync } from "node:fs";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";

/**
 * The file every lease of one keeper links to (outbox-lease.ts), `holders/<holder>.holder`: the
 * keeper's owner and holder id, written whole under a temporary name.
 *
 * Each version written is kept open until the keeper closes. An open file exists, and POSIX's
 * st_dev + st_ino identify a file for as long as it exists: so a lease whose (dev, ino) is one of
 * these versions is a link to this keeper's holder file, and no other file (a lease taken over,
 * a holder file of another keeper) can carry those numbers meanwhile, even once this keeper's
 * lease and holder name are gone. Releasing a lease then costs one lstat, not a read of the lease.
 */
export interface HolderFile {
  readonly path: string;
  /**
   * Write the holder file (again, when it was removed under us); calls made while a write is in
   * flight share it. Throws what the file system throws.
   */
  write(): Promise<void>;
  /**
   * Whether the file at `leasePath` (never followed) is a link to a version of this holder file:
   * one synchronous lstat.
   */
  linksNow(leasePath: string): boolean;
  /** Close the versions kept open (once no lease of the keeper is being released). */
  close(): Promise<void>;
}

interface Version {
  handle: FileHandle;
  dev: bigint;
  ino: bigint;
}

/**
 * Whether a plain (number) lstat's dev and ino are exact: past 2^53 a number is rounded, and only
 * the bigint form tells two files apart. A plain lstat costs a third of a bigint one.
 */
const exact = (info: { dev: number; ino: number }) =>
  Number.isSafeInteger(info.dev) && Number.isSafeInteger(info.ino);

/** The holder file at `path`, holding `text` (the keeper's owner and holder id). */
export function holderFile(path: string, text: () => string): HolderFile {
  const versions: Version[] = [];
  let writing: Promise<void> | undefined;
  let closed = false;

  const writeOnce = async () => {
    const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(text());
      const { dev, ino } = await handle.stat({ bigint: true });
      await rename(temp, path);
      if (closed) await handle.close();
      else versions.push({ handle, dev, ino });
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  };

  return {
    path,
    write() {
      writing ??= writeOnce().finally(() => {
        writing = undefined;
      });
      return writing;
    },
    linksNow(leasePath) {
      try {
        const plain = lstatSync(leasePath);
        if (!plain.isFile()) return false;
        const info = exact(plain)
          ? { dev: BigInt(plain.dev), ino: BigInt(plain.ino) }
          : lstatSync(leasePath, { bigint: true });
        return versions.some((v) => v.dev === info.dev && v.ino === info.ino);
      } catch {
        return false; // gone (released, taken over and released), or unreadable: not a link to ours
      }
    },
    async close() {
      closed = true;
      await writing?.catch(() => undefined);
      await Promise.all(versions.splice(0).map((v) => v.handle.close().catch(() => undefined)));
    },
  };
}
