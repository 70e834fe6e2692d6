import type { AuditInput, AuditLog } from "../audit/index.ts";

/**
 * A `record` that appends without waiting for the disk: the log's queue keeps records in call
 * order, and the delivery path must not wait ~1.5 ms (lock, write, head file) per step; drain()
 * flushes. After a crash the last few milliseconds of records may be missing; the callback itself
 * is safe in the outbox, and recover() says what it resumed. `failed` reports a log that broke its
 * promise never to reject, once, on stderr: the host must not pay for it.
 */
export function unawaitedRecord(audit: AuditLog): {
  record(input: AuditInput): Promise<void>;
  failed(error: unknown): void;
} {
  let broken = false;
  const failed = (error: unknown) => {
    if (!broken) process.stderr.write(`opencode-callback-relay: audit append failed: ${String(error)}\n`);
    broken = true;
  };
  return {
    record(input) {
      try {
        audit.append(input).catch(failed);
      } catch (error) {
        failed(error);
      }
      return DONE;
    },
    failed,
  };
}

const DONE: Promise<void> = Promise.resolve();
