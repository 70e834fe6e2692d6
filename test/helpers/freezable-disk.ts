import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A small ext4 file system on a loop device, mounted for one test, that can be frozen
 * (`fsfreeze`): while it is, every write to it and every flush of it waits, as on a disk that holds
 * a flush for hundreds of ms, only for as long as the test wants.
 */
export interface FreezableDisk {
  dir: string;
  /**
   * Freeze it. A watchdog process thaws it after `watchdogMs` whatever happens (so code that blocks
   * its whole process on the frozen disk cannot hang the suite) and then leaves a mark that
   * `thawedByWatchdog()` sees.
   */
  freeze(watchdogMs: number): void;
  /** Whether the watchdog, not the test, thawed it. */
  thawedByWatchdog(): boolean;
  /** Thaw it now and stop the watchdog. */
  thaw(): void;
  /** Thaw, unmount (lazily) and remove everything. */
  remove(): Promise<void>;
}

/** Needs root, a loop device and mkfs.ext4; throws when any is missing: never passes on a plain disk. */
export async function mountFreezableDisk(sizeMiB = 16): Promise<FreezableDisk> {
  const root = await mkdtemp(join(tmpdir(), "ocr-freeze-"));
  const image = join(root, "disk.img");
  const dir = join(root, "mnt");
  const mark = join(root, "thawed-by-watchdog");
  const run = (command: string, args: string[]) => {
    const result = spawnSync(command, args);
    if (result.status !== 0)
      throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr?.toString() ?? result.error}`);
  };
  try {
    run("truncate", ["-s", `${sizeMiB}M`, image]);
    run("mkfs.ext4", ["-q", "-F", image]);
    mkdirSync(dir);
    run("mount", ["-o", "loop", image, dir]);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  let watchdog: ChildProcess | undefined;
  let frozen = false;
  const thaw = () => {
    // The watchdog's group: its shell and the sleep in it.
    if (watchdog?.pid !== undefined && watchdog.exitCode === null) {
      try {
        process.kill(-watchdog.pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    watchdog = undefined;
    if (frozen) spawnSync("fsfreeze", ["-u", dir]);
    frozen = false;
  };
  return {
    dir,
    freeze(watchdogMs) {
      run("fsfreeze", ["-f", dir]);
      frozen = true;
      const seconds = (watchdogMs / 1000).toFixed(1);
      watchdog = spawn("sh", ["-c", `sleep ${seconds}; fsfreeze -u '${dir}'; touch '${mark}'`], {
        stdio: "ignore",
        detached: true,
      });
    },
    thawedByWatchdog: () => existsSync(mark),
    thaw,
    async remove() {
      thaw();
      spawnSync("umount", ["-l", dir]);
      await rm(root, { recursive: true, force: true });
    },
  };
}
