import { Worker } from "node:worker_threads";

/**
 * A thread that writes a staged batch and flushes it, so that the caller on OpenCode's event loop
 * waits for the disk only so long. A lone callback is made durable on the event hook's own stack
 * (durable-file.ts says why): the hook waits for the write and the fdatasync, ~0.4 ms at the
 * median. But a flush sometimes takes far longer (the device busy with what others wrote: 14, 113,
 * 206 ms were seen in a real `opencode serve`, BENCHMARKS.md section 13), and while the hook waits
 * OpenCode's whole event loop does. Here the hook hands the write to this thread and waits at most
 * `waitMs` (`Atomics.wait`); a write done by then goes on as before, one that is not finishes off
 * the hook's stack, and its callback is sent once it is durable.
 *
 * It also makes the new batch files a callback waits on (a batch too large for the spare, or
 * written while the spare was taken): their fsync can stall as long, and creating a file at all
 * waits on a frozen disk.
 *
 * One thread per process, started by the first `startFlusher()` and shared by every relay in it
 * (OpenCode may run several); it does not keep the process alive.
 */
export interface Flusher {
  /**
   * Write `data` at offset 0 of `fd` and fdatasync it, on the flusher's thread; wait up to
   * `waitMs` for it. Throws FlushFailed when the write or the flush failed within the wait.
   */
  fill(fd: number, data: Uint8Array, waitMs: number): FillResult;
  /**
   * Create `path` (it must not exist, mode 0600) holding `data`, fsynced, on the flusher's thread;
   * wait up to `waitMs` for it (0: not at all). A file that could not be made whole is removed
   * before the failure is reported. Throws FlushFailed when that happened within the wait.
   */
  create(path: string, data: Uint8Array, waitMs: number): FillResult;
  /**
   * End the thread, as when it dies: jobs still running fail as `lost`, later calls throw `lost`
   * (their callers write on their own stack), and the next startFlusher() starts a new one.
   */
  stop(): Promise<void>;
}

/** Done within the wait, or still running: `finished` settles when it is done (rejects if it failed). */
export type FillResult = { done: true } | { done: false; finished: Promise<void> };

/**
 * The write or the flush failed on the flusher's thread (its errno code when known), or, `lost`,
 * the thread itself is gone (the job's file may be half written; the disk may be fine).
 */
export class FlushFailed extends Error {
  readonly code: string | undefined;
  readonly lost: boolean;
  constructor(code: string | undefined, message: string, lost = false) {
    super(message);
    this.name = "FlushFailed";
    this.code = code;
    this.lost = lost;
  }
}

/**
 * The flusher thread, as source (a bundled plugin has no file to start a worker from). Control
 * words: [0] the last job done, [1] 0 if it succeeded, else 1, [2] the length of its failure as JSON
 * in `failure`. Jobs run one at a time, in order.
 */
const SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { closeSync, fdatasyncSync, fsyncSync, openSync, unlinkSync, writeSync } = require("node:fs");
const control = new Int32Array(workerData.control);
const failure = new Uint8Array(workerData.failure);
const writeAll = (fd, data) => {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, done);
};
const create = (path, data) => {
  const fd = openSync(path, "wx", 0o600);
  try {
    writeAll(fd, data);
    fsyncSync(fd);
  } catch (error) {
    try { unlinkSync(path); } catch {}
    throw error;
  } finally {
    closeSync(fd);
  }
};
parentPort.on("message", ({ seq, fd, path, data }) => {
  let error = null;
  try {
    if (path === undefined) {
      writeAll(fd, data);
      fdatasyncSync(fd);
    } else create(path, data);
  } catch (caught) {
    error = { code: caught && caught.code, message: String((caught && caught.message) || caught) };
  }
  if (error !== null) {
    const bytes = Buffer.from(JSON.stringify({ code: error.code, message: error.message.slice(0, 300) }));
    const length = Math.min(bytes.length, failure.length);
    failure.set(bytes.subarray(0, length));
    Atomics.store(control, 2, length);
  }
  Atomics.store(control, 1, error === null ? 0 : 1);
  Atomics.store(control, 0, seq);
  Atomics.notify(control, 0);
  parentPort.postMessage({ seq, error });
});
`;

/** Room for a failed job's `{ code, message }` as JSON (the message cut to 300 characters). */
const FAILURE_BYTES = 1024;

/** The failure the thread left in shared memory, as the error it was. */
function failed(bytes: Uint8Array): FlushFailed {
  try {
    const { code, message } = JSON.parse(Buffer.from(bytes).toString("utf8")) as {
      code?: string;
      message?: string;
    };
    return new FlushFailed(code, message ?? "the write or its flush failed");
  } catch {
    return new FlushFailed(undefined, "the write or its flush failed");
  }
}

let started: Promise<Flusher | undefined> | undefined;
/** The thread startFlusher() answers with now. */
let current: Flusher | undefined;

/**
 * The process's flusher, started on first call; `undefined` where no worker thread can be started
 * (the caller then writes and flushes on its own stack, as before).
 */
export function startFlusher(): Promise<Flusher | undefined> {
  started ??= open().catch(() => undefined);
  return started;
}

async function open(): Promise<Flusher | undefined> {
  const control = new Int32Array(new SharedArrayBuffer(12));
  const failure = new Uint8Array(new SharedArrayBuffer(FAILURE_BYTES));
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { control: control.buffer, failure: failure.buffer },
  });
  let alive = true;
  let last = 0;
  /** Jobs that outlived their wait, by sequence number. */
  const waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  /** This thread's Flusher, once it is online. */
  let self: Flusher | undefined;
  /**
   * The thread is gone (its own error or exit, or stop()): jobs still waiting fail as `lost`, and
   * the next startFlusher() starts a new thread, for this relay or another.
   */
  const stop = (why: string) => {
    alive = false;
    if (self !== undefined && current === self) started = current = undefined;
    for (const job of waiting.values()) job.reject(new FlushFailed(undefined, why, true));
    waiting.clear();
    worker.unref();
  };
  worker.on(
    "message",
    ({ seq, error }: { seq: number; error: { code?: string; message: string } | null }) => {
      const job = waiting.get(seq);
      if (job === undefined) return; // done within its wait
      waiting.delete(seq);
      if (waiting.size === 0) worker.unref();
      if (error === null) job.resolve();
      else job.reject(new FlushFailed(error.code, error.message));
    },
  );
  worker.on("error", (error) => stop(`the flusher thread failed: ${String(error)}`));
  worker.on("exit", () => stop("the flusher thread exited"));
  // The thread keeps the process alive only while someone waits for it: while it starts (the
  // caller awaits that), and while a job outlived its wait (a callback waits to be sent). Else
  // a program that used a relay could not end; nor, with a job pending, end before it is done.
  // Unref'd only after the listeners: in Node a "message" listener refs the worker again.
  const online = await new Promise<boolean>((resolve) => {
    worker.once("online", () => resolve(true));
    worker.once("error", () => resolve(false));
    worker.once("exit", () => resolve(false));
  });
  worker.unref();
  if (!online) return undefined;

  /** Hand a job to the thread and wait for it up to `waitMs`. */
  const run = (job: { fd: number } | { path: string }, data: Uint8Array, waitMs: number): FillResult => {
    if (!alive) throw new FlushFailed(undefined, "the flusher thread is gone", true);
    const seq = ++last;
    worker.postMessage({ seq, ...job, data });
    const deadline = performance.now() + waitMs;
    for (;;) {
      const seen = Atomics.load(control, 0);
      if (seen >= seq) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        return {
          done: false,
          finished: new Promise<void>((resolve, reject) => {
            if (!alive) {
              reject(new FlushFailed(undefined, "the flusher thread is gone", true));
            } else {
              waiting.set(seq, { resolve, reject });
              worker.ref();
            }
          }),
        };
      }
      Atomics.wait(control, 0, seen, left);
    }
    // Jobs run in order and this thread sent none since: words 1 and 2 are this job's.
    if (Atomics.load(control, 1) !== 0) throw failed(failure.subarray(0, Atomics.load(control, 2)));
    return { done: true };
  };
  const flusher: Flusher = {
    fill: (fd, data, waitMs) => run({ fd }, data, waitMs),
    create: (path, data, waitMs) => run({ path }, data, waitMs),
    async stop() {
      stop("the flusher thread was stopped");
      await worker.terminate();
    },
  };
  current = self = flusher;
  return flusher;
}
