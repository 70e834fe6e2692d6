import type { ErrorCode } from "../errors/index.ts";

/**
 * Bump when a field changes meaning or is removed; adding optional fields does not bump it.
 * 2: `hash` covers the exact bytes of the line (relay/audit/hash-record.ts), and `mac` may follow
 * it. v1 records (hash over the parsed record) are still read and verified by their own rule.
 */
export const AUDIT_SCHEMA_VERSION = 2;

/** One audit record per step; not one per raw OpenCode event. */
export const AUDIT_PHASES = [
  "accepted", // a terminal run passed integrity and dedupe; its callback is in the outbox
  "skipped", // a run that will not call back for a benign reason (e.g. settled before install)
  "integrity_error", // refused by a title or routing rule: nothing sent
  "deduped", // a second terminal point for a sessionId|runId that already called back
  "attempt", // one HTTP attempt and its result
  "delivered", // a 2xx was received: never sent again
  "retry_scheduled", // a retryable failure; when the next attempt is due
  "failed", // final: a non-retryable answer, or retries/age exhausted
  "recovered", // found pending in the outbox at start-up and resumed
  "config_error", // configuration unusable: nothing is sent until it is fixed
  "redelivery", // an operator asked for a resend (`audit redeliver`)
  "state_error", // stateDir could not be written (STATE_UNWRITABLE): the callback goes on in memory only
  "held", // configuration unusable when the run began: journalled, delivered once it is fixed (code: the config error)
  "reconciled", // found in the run journal at start-up with no claim and no live owner: settled from OpenCode's stored messages
  "warning", // the relay made something safe on its own (a folder open to others set to 0700): check who else wrote there
] as const;

export type AuditPhase = (typeof AUDIT_PHASES)[number];

/**
 * A record as the relay hands it to the audit log. The log adds `v`, `ts`, `seq` and the chain
 * fields (`prev`, `hash`), overwriting any caller value for them, and redacts secrets
 * (relay/redact.ts) as a second line of defence: callers still pass no tokens, keys or headers.
 */
export interface AuditInput {
  phase: AuditPhase;
  sessionId?: string;
  runId?: string;
  taskId?: string;
  /** `sessionId|runId`. */
  dedupeKey?: string;
  idempotencyKey?: string;
  callbackSession?: string;
  outcome?: string;
  code?: ErrorCode;
  /** Human reason: what happened and what to fix. */
  reason?: string;
  hint?: string;
  /** `attempt`: 1-based attempt number (the review CLI counts and shows it). */
  attempt?: number;
  /** `attempt`: HTTP status of the answer, absent on a network error or timeout. */
  status?: number;
  /** `attempt`: milliseconds from request start to the end of the answer. */
  durationMs?: number;
  /** `attempt`: the URL posted to (configuration only, never credentials). */
  url?: string;
  /** `attempt`: the first characters of the answer body, as the receiver sent them. */
  responseExcerpt?: string;
  /** `attempt`: request body size in bytes. */
  requestBytes?: number;
  /** Further structured facts for this phase (attempt number, HTTP status, delay, target URL…). */
  [extra: string]: unknown;
}

/** A record as written: the input plus schema version, time and the hash chain. */
export interface AuditRecord extends AuditInput {
  /** Schema version: AUDIT_SCHEMA_VERSION when written now; 1 in logs written before v2. */
  v: number;
  /** ISO-8601 UTC time the record was appended. */
  ts: string;
  /** 1-based position in the log, monotonic across rotated files and writers. */
  seq: number;
  /** The previous record's `hash`, or 64 zeros for the first record of a log. */
  prev: string;
  /** sha256 (hex) of the line's bytes before `,"hash":` (v2; relay/audit/hash-record.ts). */
  hash: string;
  /** HMAC-SHA256 (hex) of `hash` under the log's key, when the log is keyed (relay/audit/audit-key.ts). */
  mac?: string;
}
