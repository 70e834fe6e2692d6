import { fdatasyncSync, fstatSync, unlinkSync, writeSync } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { syncDir } from "./durable-file.ts";
import type { FillResult, Flusher } from "./flusher.ts";

/**
 * A file made ahead of the write that needs it, so that write is cheap when it counts: created,
 * filled with `bytes` NULs, fsynced, and its name made durable, all off the caller's path. Filling
 * it then overwrites blocks that are already on disk in a file whose size does not change: its
 * fdatasync writes those blocks and flushes the device, and (on ext4, xfs) commits no journal
 * transaction, where a new file's fsync commits one with its inode and directory entry. In a real
 * `opencode serve`, creating and fsyncing the staged batch was about half of the event hook's time
 * per callback; filling a spare takes ~0.3 ms less (BENCHMARKS.md, section 12).
 *
 * Readers see the text followed by NULs until they are cut off, just after (entry-lines.ts ignores
 * them); an unfilled spare reads as empty, which recovery treats as a batch that never claimed
 * anything.
 */
export interface SpareFile {
  path: string;
  /** How much text fits. */
  bytes: number;
  handle: FileHandle;
}

/** Make a spare at `path` (which must not exist). Rejects, leaving nothing behind, when it cannot. */
export async function makeSpareFile(path: string, bytes: number): Promise<SpareFile> {
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(Buffer.alloc(bytes));
    await handle.sync();
    await syncDir(dirname(path));
    return { path, bytes, handle };
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw error;
  }
}

/**
 * Write `data` (at most `spare.bytes`) at the start of the spare and flush it, then let go of the
 * spare. True when the data is durable under the spare's name; false when the name is gone
 * (another process's recovery took an unfilled spare for a torn batch): write it elsewhere. Throws
 * when the disk refuses the write, after removing the spare (its content is then unknown): write
 * it elsewhere, if you can.
 *
 * With synchronous calls (durable-file.ts `writeDurableLinesSync` says why), on the flusher's
 * thread when there is one: the caller waits up to `flush.waitMs`, and a write still running then
 * answers a promise of the same instead (flusher.ts).
 */
export function fillSpareFile(
  spare: SpareFile,
  data: Buffer,
  flush?: { flusher: Flusher; waitMs: number },
): boolean | Promise<boolean> {
  const { handle } = spare;
  let started: FillResult = { done: true };
  try {
    if (flush === undefined) {
      for (let done = 0; done < data.length; )
        done += writeSync(handle.fd, data, done, data.length - done, done);
      fdatasyncSync(handle.fd);
    } else {
      started = flush.flusher.fill(handle.fd, data, flush.waitMs);
    }
  } catch (error) {
    throw letGo(spare, error);
  }
  if (started.done) return filled(spare, data);
  return started.finished.then(
    () => filled(spare, data),
    (error: unknown) => {
      throw letGo(spare, error);
    },
  );
}

/** The spare's data is durable: whether under its name still, and the NULs cut an immediate later. */
function filled(spare: SpareFile, data: Buffer): boolean {
  let named: boolean;
  try {
    named = fstatSync(spare.handle.fd).nlink > 0;
  } catch (error) {
    throw letGo(spare, error);
  }
  cutAndClose(spare, named ? data.length : undefined);
  return named;
}

/** The write failed: the spare goes (its content is unknown). Answers `error`, to throw. */
function letGo(spare: SpareFile, error: unknown): unknown {
  try {
    unlinkSync(spare.path);
  } catch {
    // Gone already, or the disk refuses even this: recovery drops a batch it cannot read.
  }
  cutAndClose(spare, undefined);
  return error;
}

/**
 * The NULs go afterwards, off the caller's path (even starting the call costs ~60 µs): the dedupe
 * marker keeps this file's callback for 30 days, and should take no more room than a batch written
 * into a new file. Should the cut be lost in a crash, the NULs stay, which readers pass over.
 */
function cutAndClose(spare: SpareFile, length: number | undefined): void {
  setImmediate(() => {
    const cut = length === undefined ? Promise.resolve() : spare.handle.truncate(length);
    void cut.catch(() => undefined).finally(() => spare.handle.close().catch(() => undefined));
  });
}

/** Close and remove a spare that will not be filled. */
export function dropSpareFile(spare: SpareFile): void {
  try {
    unlinkSync(spare.path);
  } catch {
    // Gone already: recovery removed it as an empty batch.
  }
  void spare.handle.close().catch(() => undefined);
}
