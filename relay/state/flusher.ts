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
 * One thread per process, started by the first `startFlusher()` and shared by every relay in it
 * (OpenCode may run several); it does not keep the process alive.
 */
export interface Flusher {
  /**
   * Write `data` at offset 0 of `fd` and fdatasync it, on the flusher's thread; wait up to
   * `waitMs` for it. Throws FlushFailed when the write or the flush failed within the wait.
   */
  fill(fd: number, data: Uint8Array, waitMs: number): FillResult;
}

/** Done within the wait, or still running: `finished` settles when it is done (rejects if it failed). */
export type FillResult = { done: true } | { done: false; finished: Promise<void> };

/** The write or the flush failed on the flusher's thread (its errno code when known). */
export class FlushFailed extends Error {
  readonly code: string | undefined;
  constructor(code: string | undefined, message: string) {
    super(message);
    this.name = "FlushFailed";
    this.code = code;
  }
}

/**
 * The flusher thread, as source (a bundled plugin has no file to start a worker from). Control
 * words: [0] the last job done, [1] 0 if it succeeded, else 1. Jobs run one at a time, in order.
 */
const SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { writeSync, fdatasyncSync } = require("node:fs");
const control = new Int32Array(workerData.control);
parentPort.on("message", ({ seq, fd, data }) => {
  let error = null;
  try {
    for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, done);
    fdatasyncSync(fd);
  } catch (caught) {
    error = { code: caught && caught.code, message: String((caught && caught.message) || caught) };
  }
  Atomics.store(control, 1, error === null ? 0 : 1);
  Atomics.store(control, 0, seq);
  Atomics.notify(control, 0);
  parentPort.postMessage({ seq, error });
});
`;

let started: Promise<Flusher | undefined> | undefined;

/**
 * The process's flusher, started on first call; `undefined` where no worker thread can be started
 * (the caller then writes and flushes on its own stack, as before).
 */
export function startFlusher(): Promise<Flusher | undefined> {
  started ??= open().catch(() => undefined);
  return started;
}

async function open(): Promise<Flusher | undefined> {
  const control = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(SOURCE, { eval: true, workerData: { control: control.buffer } });
  worker.unref();
  let alive = true;
  let last = 0;
  /** Jobs that outlived their wait, by sequence number. */
  const waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  const stop = (why: string) => {
    alive = false;
    for (const job of waiting.values()) job.reject(new FlushFailed(undefined, why));
    waiting.clear();
  };
  worker.on(
    "message",
    ({ seq, error }: { seq: number; error: { code?: string; message: string } | null }) => {
      const job = waiting.get(seq);
      if (job === undefined) return; // done within its wait
      waiting.delete(seq);
      if (error === null) job.resolve();
      else job.reject(new FlushFailed(error.code, error.message));
    },
  );
  worker.on("error", (error) => stop(`the flusher thread failed: ${String(error)}`));
  worker.on("exit", () => stop("the flusher thread exited"));
  const online = await new Promise<boolean>((resolve) => {
    worker.once("online", () => resolve(true));
    worker.once("error", () => resolve(false));
  });
  if (!online) return undefined;

  return {
    fill(fd, data, waitMs) {
      if (!alive) throw new FlushFailed(undefined, "the flusher thread is gone");
      const seq = ++last;
      worker.postMessage({ seq, fd, data });
      const deadline = performance.now() + waitMs;
      for (;;) {
        const seen = Atomics.load(control, 0);
        if (seen >= seq) break;
        const left = deadline - performance.now();
        if (left <= 0) {
          return {
            done: false,
            finished: new Promise<void>((resolve, reject) => {
              if (!alive) reject(new FlushFailed(undefined, "the flusher thread is gone"));
              else waiting.set(seq, { resolve, reject });
            }),
          };
        }
        Atomics.wait(control, 0, seen, left);
      }
      // Jobs run in order and this thread sent none since: word 1 is this job's.
      if (Atomics.load(control, 1) !== 0) throw new FlushFailed(undefined, "the write or its flush failed");
      return { done: true };
    },
  };
}
