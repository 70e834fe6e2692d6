import { createHash, randomBytes } from "node:crypto";
import { closeSync, constants, linkSync, openSync, unlinkSync, writeSync } from "node:fs";
import { lstat, readdir, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";
import { jsonLines, writeDurableLinesSync } from "./durable-file.ts";
import { entryLines } from "./entry-lines.ts";
import { fileId } from "./file-id.ts";
import { type FillResult, type Flusher, FlushFailed, startFlusher } from "./flusher.ts";
import { isMissing } from "./fs-errors.ts";
import { type GroupCommit, groupCommit } from "./group-commit.ts";
import type { LazyDirs } from "./lazy-dirs.ts";
import { readFileNoFollow } from "./open-no-follow.ts";
import type { OutboxEntry } from "./outbox-entry.ts";
import { HALF_WRITTEN_MS, olderThan } from "./outbox-lease.ts";
import { currentOwner, type Liveness, ownerLiveness, pidExists } from "./process-owner.ts";
import { dropSpareFile, fillSpareFile, makeSpareFile, type SpareFile } from "./spare-file.ts";
import { unrefTimeout } from "./unref-timeout.ts";

/**
 * The write-ahead half of the outbox, group-committed. Callbacks accepted together are written into
 * one staged batch file (`staged/<hash>.<host>.<pid>.<rand>.json`, one JSON line per callback) and
 * fsynced once, instead of one file and one fsync each. The one-winner claim stays per callback: the
 * dedupe marker is a hard link to the batch file (which fails if the key is claimed), and promoting
 * a callback links the batch file to its pending name `outbox/<hash>.json`, so each name's reader
 * picks its own line. Links to one inode cost no data write and no fsync of their own.
 *
 * A callback's first attempt goes out from its batch and claim alone; it is promoted only when
 * that attempt does not deliver it or takes long (relay/delivery/pending-callback.ts). The batch's
 * staged name goes once every callback in it is promoted or discarded, and promote() resolves only
 * then. A delivered callback is forgotten either after its promote resolved (its pending name
 * unlinked) or, never promoted, by a line in the batch's delivered record (`<batch>.delivered`
 * beside it: the callback's marker name), removed only after the staged name: recovery, which
 * promotes what a staged file holds unless its record names it, can never resurrect a delivered
 * callback. One record per batch, appended to: a burst's callbacks each cost one write(2) there,
 * not a link and an unlink in the dedupe folder, which holds 30 days of markers.
 */
export interface OutboxStager {
  /** Write `entry` in the next batch; resolves with the batch file's path once it is fsynced. */
  stage(entry: OutboxEntry): Promise<string>;
  /**
   * Write `entry` at once, on the caller's stack, in a batch of its own, when nothing else is being
   * staged (group-commit.ts `addNow`) and the folders exist: the batch file's path once fsynced,
   * or a promise of it when the flush outlived the flusher's wait (flusher.ts). `undefined` when
   * not now: use stage(). Throws STATE_UNWRITABLE like stage() (the promise rejects with it).
   */
  stageNow(entry: OutboxEntry): string | Promise<string> | undefined;
  /**
   * Link a claimed callback of a staged batch to its pending name (already there is fine), and
   * resolve once this process is done with the batch (its staged name gone) and the pending name is
   * durable. Throws (the caller wraps it) when the link cannot be made.
   */
  promote(stagedPath: string, dedupeKey: string): Promise<void>;
  /**
   * A callback of a batch that will not be promoted (its claim was lost or failed, or it was
   * delivered straight from the batch). `thenRemove`: a file removed once the batch's staged name
   * is gone, never before (a `.delivered` link of a callback delivered from it, DedupeStore's
   * markStagedDelivered, which recovery needs for as long as the batch can be found).
   */
  discard(stagedPath: string, thenRemove?: string): Promise<void>;
  /**
   * Say, at once and with synchronous calls, that the claimed callback `dedupeKey` was delivered
   * straight from the staged batch at `stagedPath` (never promoted): a line in the batch's
   * delivered record, which goes once the batch's staged name has; or, when it is the last
   * callback of the batch still open, the batch's staged name removed. Call it before discard().
   * Throws STATE_UNWRITABLE (the record needs a data block: a full disk refuses it).
   */
  markDelivered(stagedPath: string, dedupeKey: string): void;
  /**
   * Which callbacks the batch at `stagedPath` says were delivered straight from it: a test by
   * dedupe key. Rejects when its record exists but cannot be read (a callback it names would
   * otherwise be sent again); none when it has no record.
   */
  deliveredFrom(stagedPath: string): Promise<(dedupeKey: string) => boolean>;
  /**
   * Recovery: remove a staged file once every claimed callback in it was promoted or delivered,
   * then its delivered record.
   */
  retire(stagedPath: string): Promise<void>;
  /**
   * Staged batches no live accept owns (see Outbox.staged), one item per callback line. Removes the
   * delivered records whose batch is gone (a crash between the two unlinks leaves one).
   */
  staged(only?: { writerGone?: boolean }): Promise<Array<{ path: string; entry: OutboxEntry }>>;
  /**
   * Every callback in `staged/` now, however young, with the pid that wrote its batch when it ran
   * on this host: read only, for `audit redeliver`, which must not call a callback whose first
   * attempt is in flight (staged, not yet promoted) unknown. A batch that cannot be read is passed by.
   */
  inStaged(): Promise<Array<{ path: string; entry: OutboxEntry; writer: StagedWriter }>>;
  /** The ids (file-id.ts) of every file in `staged/` now; rejects when the folder cannot be read. */
  stagedFileIds(): Promise<Set<string>>;
  /** Make the folders, and the batch file for the next lone batch (spare-file.ts). */
  prepare(): Promise<void>;
  /** Remove the spare batch file; nothing is staged after. */
  close(): Promise<void>;
}

/** Who wrote a staged batch, as its name says: a pid only when it ran on this host. */
export type StagedWriter =
  /** That pid runs now (or was reused since). */
  | { running: true; pid: number }
  /** That pid ended, or the batch is another host's (no pid). */
  | { running: false; pid?: number };

export interface StagerOptions {
  outboxDir: string;
  stagedDir: string;
  /** Creates the folders; throws STATE_UNWRITABLE. `made` once they exist. */
  ensureDirs: LazyDirs;
  /** Wraps a file-system error as STATE_UNWRITABLE. */
  unwritable(error: unknown): Error;
  /** A group-committed fsync of the outbox folder. */
  syncOutbox(): Promise<void>;
  /** Callbacks per batch at most. @default 64 */
  maxBatch?: number;
  /** Size of the batch file made ahead (spare-file.ts); 0 makes none. @default SPARE_BYTES */
  spareBytes?: number;
  /**
   * How long a caller waits for a batch's write and flush on the flusher's thread before it
   * finishes off the caller's stack (flusher.ts); `false` writes on the caller's own stack, however
   * long that takes. @default FLUSH_WAIT_MS
   */
  flushWaitMs?: number | false;
}

/**
 * How long OpenCode's event loop may wait for a lone callback's write and flush: ~10× the median
 * flush on this project's disks (0.36–0.52 ms in a real `opencode serve`, BENCHMARKS.md section 13).
 */
export const FLUSH_WAIT_MS = 5;

/**
 * The batch file made ahead holds this much: a lone callback, well past the default summary of
 * 4,000 characters; a larger batch is written into a new file.
 */
export const SPARE_BYTES = 32 * 1024;

/** The flusher's thread a stager writes through, and how long a caller waits for it. */
interface Flush {
  flusher: Flusher;
  waitMs: number;
}

/**
 * A stager whose thread died again within this long of starting a new one waits for the rest of it
 * before the next: a thread that keeps dying should not cost a job each batch.
 */
export const FLUSHER_RESTART_PAUSE_MS = 60_000;

/** This process's unfinished batches: how many callbacks are still to be promoted or discarded. */
interface Batch {
  open: number;
  /** A promote failed: keep the staged name, so recovery still finds that callback. */
  keep: boolean;
  /** Its staged name is already gone: its last callback still open was delivered (markDelivered). */
  gone: boolean;
  /** Files to remove once the staged name is gone (discard's `thenRemove`). */
  thenRemove: string[];
  /** The batch's delivered record, open for appending, once a callback was delivered from it. */
  record: number | undefined;
  done: Promise<void>;
  finish(): void;
}

export function openStager(options: StagerOptions): OutboxStager {
  const { outboxDir, stagedDir, unwritable } = options;
  const batches = new Map<string, Batch>();
  // The random part tells this process's batches from a former process's of the same pid.
  const nonce = randomBytes(NONCE_CHARS / 2).toString("hex");
  OPEN_STAGERS.add(nonce);
  const spareBytes = options.spareBytes ?? SPARE_BYTES;
  let written = 0;
  /** A batch file's name: `first` names it for a person; the rest says whose it is (judgeWriter()). */
  const batchPath = (first: string) =>
    join(stagedDir, `${first}.${HOST_TAG}.${WRITER_TAG}.${nonce}${(++written).toString(36)}.json`);
  /** The batch file made ahead for the next batch that fits (spare-file.ts), while there is one. */
  let spare: SpareFile | undefined;
  let makingSpare: Promise<void> | undefined;
  const flushWaitMs = options.flushWaitMs ?? FLUSH_WAIT_MS;
  /** The batch files' names in `staged/` now (none when it cannot be read). */
  const batchNames = async () =>
    (await readdir(stagedDir).catch(() => [] as string[])).filter((name) => name.endsWith(".json"));
  /**
   * The thread that writes every batch (flusher.ts) and how long a caller waits for it, once
   * prepare() has started it (or forgetIfLost a new one); never with `flushWaitMs: false`.
   */
  let flush: Flush | undefined;
  let closed = false;
  const makeSpare = (): Promise<void> => {
    if (closed || spare !== undefined || spareBytes === 0) return Promise.resolve();
    makingSpare ??= makeSpareFile(batchPath(randomBytes(8).toString("hex")), spareBytes)
      .then((made) => {
        if (closed) dropSpareFile(made);
        else spare = made;
      })
      // Only an optimization: a full or unwritable disk shows on the write the callback needs.
      .catch(() => undefined)
      .finally(() => {
        makingSpare = undefined;
      });
    return makingSpare;
  };
  /** When this stager last started a thread again, for the pause before the next restart. */
  let restartedAt = Number.NEGATIVE_INFINITY;
  let restarting = false;
  /**
   * The thread `used` is gone: until a new one is up, later batches are written on the caller's
   * stack at once (into the spare when it fits), instead of each failing on the gone thread first
   * and throwing the spare away. The new thread is started off the caller's stack, at once, or,
   * when this stager started one less than FLUSHER_RESTART_PAUSE_MS ago, once that pause is over:
   * a thread that keeps dying costs a failed job a minute, not one a batch.
   */
  const forgetIfLost = (error: unknown, used: Flush | undefined) => {
    if (used === undefined || !(error instanceof FlushFailed && error.lost) || flush !== used) return;
    flush = undefined;
    if (closed || restarting || flushWaitMs === false) return;
    restarting = true;
    const waitMs = flushWaitMs;
    const restart = () => {
      if (closed) {
        restarting = false;
        return;
      }
      restartedAt = performance.now();
      void startFlusher()
        .then((flusher) => {
          if (!closed && flush === undefined && flusher !== undefined) flush = { flusher, waitMs };
        })
        .finally(() => {
          restarting = false;
        });
    };
    const pause = restartedAt + FLUSHER_RESTART_PAUSE_MS - performance.now();
    if (pause <= 0) restart();
    else unrefTimeout(restart, pause);
  };
  /**
   * Into the spare when it fits and is still there: the path, or undefined (write a new file; also
   * when the spare's write failed, since a new file may still be written). A promise of the same
   * when the write outlived the flusher's wait.
   */
  const writeSpare = (data: Buffer): string | undefined | Promise<string | undefined> => {
    const ready = spare;
    if (ready === undefined || data.length > ready.bytes) return undefined;
    spare = undefined;
    const used = flush;
    try {
      const filled = fillSpareFile(ready, data, used);
      if (typeof filled === "boolean") return filled ? ready.path : undefined;
      return filled.then(
        (named) => (named ? ready.path : undefined),
        (error: unknown) => void forgetIfLost(error, used),
      );
    } catch (error) {
      return void forgetIfLost(error, used);
    }
  };
  /**
   * One batch, written and flushed with synchronous calls (the first attempt waits on it:
   * durable-file.ts says why), into the spare when it fits, else into a new file; on the flusher's
   * thread when there is one, waiting for it up to `flushWaitMs`. A promise of the path when the
   * write outlived the wait.
   */
  const writeBatch = (entries: OutboxEntry[]): string | Promise<string> => {
    const data = Buffer.from(jsonLines(entries));
    const fromSpare = writeSpare(data);
    // The next spare is made once this stack is done, whether or not this batch took one.
    setImmediate(makeSpare);
    if (typeof fromSpare === "string") return track(fromSpare, entries.length);
    if (fromSpare === undefined) return writeNewBatch(entries, data);
    return fromSpare.then((path) =>
      path === undefined ? writeNewBatch(entries, data) : track(path, entries.length),
    );
  };
  /**
   * A batch into a new file: on the flusher's thread when there is one (creating a file waits on a
   * frozen disk, and its fsync as long as the spare's), else on the caller's stack.
   */
  const writeNewBatch = (entries: OutboxEntry[], data: Buffer): string | Promise<string> => {
    const newPath = () => batchPath(markerName(entries[0]?.callback.dedupeKey ?? ""));
    const path = newPath();
    const used = flush;
    if (used === undefined) return writeNewBatchHere(path, entries.length, data);
    // The thread removes a file it could not make whole before it says so.
    const failed = (error: unknown): string => {
      if (!(error instanceof FlushFailed && error.lost)) throw unwritable(error);
      forgetIfLost(error, used);
      // The thread itself is gone, and the disk may be fine: write here, under a new name (what
      // the thread made of this one goes: a torn batch, or a copy nobody claimed).
      removed(path);
      return writeNewBatchHere(newPath(), entries.length, data);
    };
    let made: FillResult;
    try {
      made = used.flusher.create(path, data, used.waitMs);
    } catch (error) {
      return failed(error);
    }
    if (made.done) return track(path, entries.length);
    return made.finished.then(() => track(path, entries.length), failed);
  };
  /** A new batch file, made on the caller's stack. */
  const writeNewBatchHere = (path: string, count: number, data: Buffer): string => {
    try {
      writeDurableLinesSync(path, data);
    } catch (error) {
      // A torn batch goes before the error does: no other process's recovery ever reads it.
      try {
        unlinkSync(path);
      } catch {
        // Never created (the open failed), or the disk refuses even this: recovery drops torn batches.
      }
      throw unwritable(error);
    }
    return track(path, count);
  };
  /** Count a written batch's callbacks until each is promoted or discarded. */
  const track = (path: string, open: number): string => {
    let finish = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    batches.set(path, { open, keep: false, gone: false, thenRemove: [], record: undefined, done, finish });
    return path;
  };
  const writer: GroupCommit<OutboxEntry, string | Promise<string>> = groupCommit(
    // A group-committed batch waits for the flusher as long as a lone one: not at all cost a
    // burst a thread's message per batch (BENCHMARKS.md section 15).
    async (entries) => writeBatch(entries),
    {
      maxItems: options.maxBatch ?? 64,
      now: writeBatch,
    },
  );

  const settle = async (path: string, failed: boolean, thenRemove?: string) => {
    const batch = batches.get(path);
    if (batch === undefined) return;
    if (failed) batch.keep = true;
    if (thenRemove !== undefined) batch.thenRemove.push(thenRemove);
    if (--batch.open > 0) return;
    batches.delete(path);
    closeRecord(batch);
    // Synchronous, like the write that made it. The delivered record and any `.delivered` links go
    // only once the batch has: while it can be found, they keep recovery from resending what was
    // delivered from it.
    if (!batch.keep && (batch.gone || removed(path))) {
      if (batch.record !== undefined) removed(recordPath(path));
      for (const file of batch.thenRemove) removed(file);
    }
    batch.finish();
  };
  /** Close a batch's delivered record (it stays on disk: `record` still says one was made). */
  const closeRecord = (batch: Batch) => {
    if (batch.record === undefined || batch.record < 0) return;
    try {
      closeSync(batch.record);
    } catch {
      // Nothing to do: the lines written are in the file.
    }
    batch.record = -1;
  };

  return {
    async stage(entry) {
      await options.ensureDirs();
      return writer.add(entry);
    },
    stageNow(entry) {
      return options.ensureDirs.made ? writer.addNow(entry)?.result : undefined;
    },
    async stagedFileIds() {
      const ids = new Set<string>();
      const names = await readdir(stagedDir).catch((error: unknown) => {
        if (isMissing(error)) return [] as string[];
        throw error;
      });
      for (const name of names) {
        const id = await fileId(join(stagedDir, name));
        if (id !== undefined) ids.add(id);
      }
      return ids;
    },
    async prepare() {
      await options.ensureDirs();
      // New batch files go through the thread too, so it is started even when no spare is made.
      const waitMs = flushWaitMs;
      const starting =
        waitMs === false
          ? undefined
          : startFlusher().then((flusher) => {
              flush = flusher === undefined ? undefined : { flusher, waitMs };
            });
      await Promise.all([makeSpare(), starting]);
    },
    async close() {
      closed = true;
      OPEN_STAGERS.delete(nonce);
      await makingSpare;
      if (spare !== undefined) dropSpareFile(spare);
      spare = undefined;
    },
    async promote(stagedPath, key) {
      const pendingPath = join(outboxDir, `${markerName(key)}.json`);
      try {
        linkSync(stagedPath, pendingPath); // synchronous, like the claim's link (outbox-lease.ts says why)
      } catch (error) {
        // EEXIST: promoted already (a recovery got here first); ENOENT likewise if it then retired
        // the batch, which it does only after promoting every claimed callback in it.
        const code = (error as NodeJS.ErrnoException).code;
        const promoted = code === "EEXIST" || (code === "ENOENT" && (await exists(pendingPath)));
        if (!promoted) {
          await settle(stagedPath, true);
          throw unwritable(error);
        }
      }
      // The pending name is durable before this callback counts as settled: the batch's staged
      // name, which goes at the last settle, must outlive every new name made from it, should the
      // power go (syncDir is best effort: a folder that cannot be fsynced is no worse than before).
      await options.syncOutbox();
      const batch = batches.get(stagedPath);
      await settle(stagedPath, false);
      await batch?.done;
    },
    async discard(stagedPath, thenRemove) {
      if (batches.has(stagedPath)) return settle(stagedPath, false, thenRemove);
      if (!removed(stagedPath)) return;
      removed(recordPath(stagedPath));
      if (thenRemove !== undefined) removed(thenRemove);
    },
    markDelivered(stagedPath, dedupeKey) {
      const name = markerName(dedupeKey);
      const batch = batches.get(stagedPath);
      // The last callback of the batch still open (a lone callback's, mostly): the batch's staged
      // name going says it as a line would, and it goes now, as discard() would next.
      if (batch !== undefined && batch.open === 1 && !batch.keep && removed(stagedPath)) {
        batch.gone = true; // settle() then has nothing to unlink: a second try would only fail
        return;
      }
      try {
        if (batch === undefined || batch.record === -1) {
          // Not a batch this stager has open, or its record was closed after a failed write: a
          // write of its own, created if need be (never through a link planted at its name), on a
          // line of its own should the last one have been cut short.
          const fd = openSync(recordPath(stagedPath), RECORD_FLAGS, 0o600);
          try {
            writeLine(fd, Buffer.from(`\n${name}\n`));
          } finally {
            closeSync(fd);
          }
          return;
        }
        // The first line creates it, exclusively: a file already at its name is not this batch's.
        batch.record ??= openSync(recordPath(stagedPath), RECORD_FLAGS | constants.O_EXCL, 0o600);
        writeLine(batch.record, Buffer.from(`${name}\n`));
      } catch (error) {
        // A line cut short would run into the next one: later lines go through a write of their own.
        if (batch !== undefined && batch.record !== undefined) closeRecord(batch);
        throw unwritable(error);
      }
    },
    async deliveredFrom(stagedPath) {
      const path = recordPath(stagedPath);
      let text: string;
      try {
        // A record is a regular file made by its batch's writer: anything else at its name (a
        // link, a folder, a FIFO, which would hold the read forever) is not this batch's record.
        if (!(await lstat(path)).isFile()) return () => false;
        text = await readFileNoFollow(path);
      } catch (error) {
        if (isMissing(error) || (error as { code?: unknown }).code === "STATE_SYMLINK_REFUSED")
          return () => false;
        throw error;
      }
      // Whole lines only: a line cut short (a full disk mid-write) names no callback.
      const names = new Set(text.split("\n").filter((name) => MARKER_NAME.test(name)));
      return (dedupeKey) => names.has(markerName(dedupeKey));
    },
    async retire(stagedPath) {
      // Its record only once the batch is gone (its callbacks promoted): a batch that stays keeps it.
      const gone = await unlink(stagedPath).then(
        () => true,
        (error: unknown) => isMissing(error),
      );
      if (gone) await unlink(recordPath(stagedPath)).catch(() => undefined);
    },
    async inStaged() {
      const out: Array<{ path: string; entry: OutboxEntry; writer: StagedWriter }> = [];
      for (const name of await batchNames()) {
        const path = join(stagedDir, name);
        const text = await readFileNoFollow(path).catch(() => undefined);
        const entries = text === undefined ? null : entryLines(text);
        if (entries === null) continue;
        const judged = judgeWriter(name);
        const { pid } = judged;
        const writer: StagedWriter =
          pid === undefined
            ? { running: false }
            : runsHere(judged)
              ? { running: true, pid }
              : { running: false, pid };
        for (const entry of entries) out.push({ path, entry, writer });
      }
      return out;
    },
    async staged(only) {
      const out: Array<{ path: string; entry: OutboxEntry }> = [];
      const names = await readdir(stagedDir).catch(() => [] as string[]);
      const listed = new Set(names);
      // A record is made after its batch and removed after it: without its batch, a crash's leftover.
      for (const name of names) {
        if (name.endsWith(RECORD_SUFFIX) && !listed.has(name.slice(0, -RECORD_SUFFIX.length)))
          await unlink(join(stagedDir, name)).catch(() => undefined);
      }
      for (const name of names) {
        if (!name.endsWith(".json")) continue;
        const path = join(stagedDir, name);
        // A batch may belong to an accept in progress: take it only when its writer is gone (this
        // host: OpenCode restarts in seconds), never while it is known to run, however long its
        // attempt takes, and otherwise (another host's, a bare pid) once older than any accept.
        if (batches.has(path) || path === spare?.path) continue;
        const writer = judgeWriter(name);
        if (writer.state === "alive") continue;
        const gone = writer.state === "dead";
        if (!gone && (only?.writerGone === true || !(await olderThan(path, HALF_WRITTEN_MS)))) continue;
        // A batch that cannot be read now (gone, or an error such as EMFILE) is left alone: it may
        // hold the only staged copy of a claimed callback, and the next recovery reads it again.
        const text = await readFileNoFollow(path).catch(() => undefined);
        if (text === undefined) continue;
        const entries = entryLines(text);
        // Torn by a crash mid-write, or a spare never filled: it never claimed anything (claims
        // link a fsynced batch). A spare of a live process on this host stays, however old.
        if (entries === null) {
          if (gone || !runsHere(writer)) await unlink(path).catch(() => undefined);
        } else for (const entry of entries) out.push({ path, entry });
      }
      return out;
    },
  };
}

/** A batch's delivered record: its path and this suffix. */
const RECORD_SUFFIX = ".delivered";
const recordPath = (stagedPath: string) => `${stagedPath}${RECORD_SUFFIX}`;
/** Appending, made if need be, never through a symbolic link at its name. */
const RECORD_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
/** A line of a delivered record: a dedupe marker's name (markerName). */
const MARKER_NAME = /^[0-9a-f]{64}$/;

/** Write a whole line (a short write, which only a full disk makes, is an error). */
function writeLine(fd: number, line: Buffer): void {
  const written = writeSync(fd, line);
  if (written !== line.length) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
}

/**
 * Unlink `path`; whether it is gone (removed, or not there: a recovery retired a batch after
 * promoting its callbacks). What the disk refuses to remove stays for recovery (a staged batch) or
 * prune (a `.delivered` link).
 */
function removed(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    return isMissing(error);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** This host, in staged file names: a pid only says something about processes of the same host. */
const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/**
 * This process, in staged file names: `<pid>_<start time>_<boot id>`, the fields of its lease
 * owner (process-owner.ts), which name one process for the life of the machine, so that a pid
 * reused since is not taken for the writer; a bare pid where the start time or boot id is unknown.
 */
const WRITER_TAG = ((): string => {
  const { pid, startTime, bootId } = currentOwner();
  const plain = (text: string | null) => text !== null && /^[0-9a-f-]+$/i.test(text);
  return plain(startTime) && plain(bootId) ? `${pid}_${startTime}_${bootId}` : String(pid);
})();

/**
 * This process's stagers that are open, by the random part of their batch names: a batch of this
 * very process whose stager has closed has no writer left.
 */
const OPEN_STAGERS = new Set<string>();
/** The random part of a stager's batch names (then a counter). */
const NONCE_CHARS = 8;

/** Whether a staged file's writer runs, as its name says; `pid` when it ran on this host. */
interface WriterJudgement {
  /**
   * `alive`: it promotes or delivers what it staged; `unknown`: another host's, or a bare pid that
   * runs now (perhaps reused).
   */
  state: Liveness;
  pid?: number;
}

/**
 * Judge the writer of a staged file by its name (`<first>.<host>.<writer>.<nonce>…`): as a lease's
 * owner is judged (ownerLiveness), and in this very process by whether its stager is still open.
 */
function judgeWriter(name: string): WriterJudgement {
  const [, host, writer = "", rest = ""] = name.split(".");
  if (host !== HOST_TAG) return { state: "unknown" };
  const [pidText, startTime, bootId] = writer.split("_");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return { state: "unknown" };
  if (startTime === undefined || bootId === undefined) {
    // A bare pid (an older version's name, or no /proc): gone, or perhaps still running.
    return { state: pid !== process.pid && !pidExists(pid) ? "dead" : "unknown", pid };
  }
  const me = currentOwner();
  if (pid === me.pid && startTime === me.startTime && bootId === me.bootId)
    return { state: OPEN_STAGERS.has(rest.slice(0, NONCE_CHARS)) ? "alive" : "dead", pid };
  return { state: ownerLiveness({ host: me.host, pid, startTime, bootId }), pid };
}

/**
 * A writer that may still run on this host: a live process (this one too, when the stager that
 * wrote the file is open), or a bare pid that runs now (perhaps reused: its file stays, one empty
 * file, until that pid ends).
 */
function runsHere({ state, pid }: WriterJudgement): boolean {
  return state === "alive" || (state === "unknown" && pid !== undefined);
}
