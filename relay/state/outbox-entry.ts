import type { Callback } from "../callback/index.ts";
import type { ErrorCode } from "../errors/index.ts";

/**
 * One accepted callback as the outbox keeps it on disk (`outbox/<hash>.json`). Entries hold no
 * secrets: auth headers and signatures are recomputed from config at each attempt.
 */
export interface OutboxEntry {
  v: 1;
  callback: Callback;
  /** Attempts made so far. */
  attempts: number;
  /** Epoch ms when the next attempt is due. */
  dueAt: number;
  /** Code of the last failed attempt. */
  lastCode?: ErrorCode;
  /** `unknown` when the last attempt may have reached the receiver. */
  lastResult?: "failed" | "unknown";
}

/** An entry that failed for good, kept for `audit redeliver`. */
export interface FailedOutboxEntry extends OutboxEntry {
  failedAt: number;
  code: ErrorCode;
}

/** Enough shape to deliver from; anything else is set aside rather than crashing recovery. */
export function isEntryShape(value: unknown): value is OutboxEntry {
  const entry = value as Partial<OutboxEntry> | null;
  const callback = entry?.callback;
  return (
    typeof entry?.attempts === "number" &&
    typeof entry.dueAt === "number" &&
    typeof callback?.dedupeKey === "string" &&
    typeof callback.idempotencyKey === "string" &&
    typeof callback.acceptedAt === "number" &&
    typeof callback.routing === "object" &&
    callback.routing !== null &&
    typeof callback.report === "object" &&
    callback.report !== null
  );
}
