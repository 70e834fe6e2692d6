import { spawnSync } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { mkdtemp, rm, rmdir, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A small tmpfs mounted for one test: a real file system that really fills up. */
export interface SmallTmpfs {
  dir: string;
  /** Write a ballast file until the file system refuses more data (ENOSPC). */
  fillData(): void;
  /** Also use up every inode: then not even an empty file or a folder can be created. */
  fillInodes(): void;
  /** Remove what fillData()/fillInodes() wrote. */
  free(): Promise<void>;
  /** Unmount (lazily, so an open handle cannot stop it) and remove the mount point. */
  unmount(): Promise<void>;
}

/**
 * Mount a tmpfs of `sizeKiB` with at most `inodes` inodes (needs root: the tests run as root here).
 * Throws when the mount fails: a disk-full test must never pass on a disk that is not full.
 */
export async function mountSmallTmpfs(sizeKiB = 512, inodes = 256): Promise<SmallTmpfs> {
  const dir = await mkdtemp(join(tmpdir(), "ocr-tmpfs-"));
  const mounted = spawnSync("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${sizeKiB}k,nr_inodes=${inodes},mode=0700`,
    "tmpfs",
    dir,
  ]);
  if (mounted.status !== 0) {
    await rmdir(dir).catch(() => undefined);
    throw new Error(`cannot mount a tmpfs on ${dir}: ${mounted.stderr.toString()}`);
  }
  const ballast = join(dir, "ballast");
  const spare = join(dir, "spare-inodes");
  return {
    dir,
    fillData() {
      const fd = openSync(ballast, "a");
      try {
        const chunk = Buffer.alloc(4096);
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      } finally {
        closeSync(fd);
      }
    },
    fillInodes() {
      spawnSync("mkdir", ["-p", spare]);
      for (let i = 0; ; i++) {
        try {
          closeSync(openSync(join(spare, String(i)), "wx"));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") return;
          throw error;
        }
      }
    },
    async free() {
      await unlink(ballast).catch(() => undefined);
      await rm(spare, { recursive: true, force: true });
    },
    async unmount() {
      spawnSync("umount", ["-l", dir]);
      await rmdir(dir).catch(() => undefined);
    },
  };
}
