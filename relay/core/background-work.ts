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
  /** Resolves once no work is running. */
  idle(): Promise<void>;
  /** How many pieces of work are running. */
  readonly busy: number;
}

/** Background work whose escaped errors are recorded with `record` (which must never reject). */
export function backgroundWork(record: (input: AuditInput) => Promise<void>): BackgroundWork {
  let busy = 0;
  let waiting: Array<() => void> = [];
  return {
    run(work, ids) {
      // Counted only once scheduled: a throw from queueMicrotask (stack exhausted) must not leave a
      // count that no callback will ever take back, or drain() and close() would never resolve.
      queueMicrotask(() => {
        work()
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
          .finally(() => {
            if (--busy > 0) return;
            const waiters = waiting;
            waiting = [];
            for (const wake of waiters) wake();
          });
      });
      busy++;
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
