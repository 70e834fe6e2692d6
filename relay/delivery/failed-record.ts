import type { AuditInput } from "../audit/index.ts";
import type { CallbackIds } from "../callback/index.ts";
import { ERROR_CODES, type ErrorCode } from "../errors/index.ts";

/** Why a callback was given up (for now): what `failedRecord` puts in the `failed` record. */
export interface FailedWhy {
  code: ErrorCode;
  reason: string;
  /** Attempts made, the last one included. */
  attempts: number;
  /** HTTP status of the last answer, when there was one. */
  status?: number | undefined;
  /** Code of the last failed attempt, when it differs in meaning from `code` (expiry, exhaustion). */
  lastCode?: ErrorCode | undefined;
  /** `unknown` when the last attempt may have reached the receiver. */
  lastResult?: "failed" | "unknown" | undefined;
  /** Set on an operator's redelivery. */
  redelivery?: boolean;
}

/**
 * The `failed` audit record, the same for delivery and redelivery. A timeout may have reached the
 * receiver: such a failure says `result: "unknown"`, not "not delivered".
 */
export function failedRecord(ids: CallbackIds, why: FailedWhy): AuditInput {
  return {
    ...ids,
    phase: "failed",
    code: why.code,
    reason: why.reason,
    hint: ERROR_CODES[why.code].hint,
    attempts: why.attempts,
    ...(why.redelivery ? { redelivery: true } : {}),
    ...(why.status === undefined ? {} : { status: why.status }),
    ...(why.lastCode === undefined ? {} : { lastCode: why.lastCode }),
    ...(why.lastResult === "unknown" ? { result: "unknown" } : {}),
  };
}
