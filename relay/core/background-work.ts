import type { AuditInput } from "../audit/index.ts";
import type { CallbackIds } from "../callback/index.ts";
import { toRelayError } from "../errors/index.ts";

/** Work run off the caller's stack and counted, so drain() and close() can wait for it. */
export interface BackgroundWork {
  /**
   * Run `work` off the caller's stack (once its synchronous work is done: a microtask, not a turn
   * of the event loop, which waits behind the host's I/O); an escaped throw becomes a `failed`
   * INTERNAL record.
   */
  run(work: () => Promise<void>, ids: CallbackIds | (() => CallbackIds)): void;
  /**
   * Run `work` at once, on the caller's stack up to its first `await`, counted and recorded like
   * run(): for the first steps of a callback, which must not wait behind the host's own work
   * either (a microtask queued from OpenCode's event hook runs 2–3 ms later).
   */
  runNow(work: () => Promise<void>, ids: CallbackIds | (() => CallbackIds)): void;
  /** Resolves once no work is running. */
  idle(): Promise<void>;
  /** How many pieces of work are running. */
  readonly busy: number;
}

/** Background work whose escaped errors are recorded with `record` (which must never reject). */
export function backgroundWork(record: (input: AuditInput) => Promise<void>): BackgroundWork {
  let busy = 0;
  let waiting: Array<() => void> = [];
  /** Start `work`, counted (the caller has counted it): an escaped throw becomes a `failed` record. */
  const start = (work: () => Promise<void>, ids: CallbackIds | (() => CallbackIds)) => {
    let running: Promise<void>;
    try {
      running = work();
    } catch (error) {
      running = Promise.reject(error);
    }
    running
      .catch((error: unknown) => {
        const err = toRelayError(error);
        return record({
          ...safeIds(ids),
          phase: "failed",
          code: err.code,
          reason: err.message,
          hint: err.hint,
        });
      })
      .catch(() => undefined)
      .finally(done);
  };
  const done = () => {
    if (--busy > 0) return;
    const waiters = waiting;
    waiting = [];
    for (const wake of waiters) wake();
  };
  return {
    run(work, ids) {
      // Counted only once scheduled: a throw from queueMicrotask (stack exhausted) must not leave a
      // count that no callback will ever take back, or drain() and close() would never resolve.
      queueMicrotask(() => start(work, ids));
      busy++;
    },
    runNow(work, ids) {
      busy++;
      try {
        start(work, ids);
      } catch {
        done(); // the stack was exhausted before the work was followed: not counted
      }
    },
    idle: () => (busy === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    get busy() {
      return busy;
    },
  };
}

function safeIds(ids: CallbackIds | (() => CallbackIds)): CallbackIds {
  try {
    return typeof ids === "function" ? ids() : ids;
  } catch {
    return {};
  }
}
