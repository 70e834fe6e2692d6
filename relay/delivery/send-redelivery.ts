import type { Dispatcher } from "undici";
import type { AuditInput } from "../audit/index.ts";
import { callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { type ErrorCode, RelayError } from "../errors/index.ts";
import type { FailedOutboxEntry, Outbox, OutboxEntry } from "../state/index.ts";
import { attemptAndRecord } from "./attempt-and-record.ts";
import { failedRecord } from "./failed-record.ts";

/** Where the callback being redelivered was found; decides what a success or a failure changes. */
export type RedeliveryFrom =
  /** `outbox/failed/`: removed once delivered; kept, one attempt more, when not. */
  | { state: "failed"; entry: FailedOutboxEntry }
  /** Pending in the outbox (`--now`, under our lease): removed once delivered; else kept, due now, or failed for good. */
  | { state: "pending"; entry: OutboxEntry }
  /** Delivered before (`--force`), read from its dedupe marker: nothing on disk changes. */
  | { state: "delivered"; entry: OutboxEntry; attempts: number };

export interface SendRedeliveryContext {
  config: RelayConfig;
  outbox: Outbox;
  dispatcher: Dispatcher;
  now: () => number;
  record(input: AuditInput): Promise<void>;
  /** `--force`: said in the `redelivery` record. */
  forced: boolean;
}

/** What became of one redelivery attempt. */
export interface SentRedelivery {
  ok: boolean;
  code?: ErrorCode;
  status?: number;
  /** Set when a failed `--now` attempt left the callback pending (a retryable answer). */
  stillPending?: true;
}

/**
 * One redelivery attempt of a callback with its own idempotency key, through the one attempt path
 * (attempt-and-record.ts), then what it changes on disk per where the callback was found. Audits
 * `redelivery` (forced or not, from where), `attempt`, then `delivered` or `failed`. The caller
 * holds the entry's lease.
 */
export async function sendRedelivery(
  ctx: SendRedeliveryContext,
  from: RedeliveryFrom,
): Promise<SentRedelivery> {
  const { config, outbox, now, record } = ctx;
  const { entry } = from;
  const { callback } = entry;
  const ids = callbackIds(callback);
  const before = from.state === "delivered" ? from.attempts : entry.attempts;
  await record({
    ...ids,
    phase: "redelivery",
    from: from.state,
    attempts: before,
    ...(ctx.forced ? { forced: true } : {}),
    ...(entry.lastCode === undefined ? {} : { previousCode: entry.lastCode }),
    ...(from.state === "failed" ? { previousCode: from.entry.code } : {}),
  });
  const attempt = before + 1;
  const outcome = await attemptAndRecord({
    callback,
    attempt,
    config,
    dispatcher: ctx.dispatcher,
    now,
    record,
    redelivery: true,
    forget: async () => {
      if (from.state === "failed") await outbox.removeFailed(callback.dedupeKey);
      else if (from.state === "pending") await outbox.remove(callback.dedupeKey);
      // Delivered before: its dedupe marker stays, the claim that it never runs again by itself.
    },
  });
  if (outcome.kind === "unsendable") throw outcome.error;
  if (outcome.kind === "skipped") throw new RelayError("INTERNAL", "a redelivery was skipped");
  const { status } = outcome.result;
  const withStatus = status === undefined ? {} : { status };
  if (outcome.kind === "delivered") return { ok: true, ...withStatus };
  const { code, lastResult } = outcome;
  const updated = { ...entry, attempts: attempt, lastCode: code, lastResult };
  if (from.state === "pending" && outcome.kind === "retry") {
    // Still worth retrying: it stays pending, due at once for whichever relay resumes it next.
    await outbox.put({ ...updated, dueAt: now() });
    return { ok: false, code, ...withStatus, stillPending: true };
  }
  if (from.state !== "delivered") await outbox.moveToFailed(updated, code, now());
  await record(
    failedRecord(ids, {
      code,
      reason: `redelivery of run ${callback.routing.runId} was not accepted`,
      attempts: attempt,
      redelivery: true,
      status,
      lastResult,
    }),
  );
  return { ok: false, code, ...withStatus };
}
