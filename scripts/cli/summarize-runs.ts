import type { AuditRecord } from "../../relay/index.ts";

/**
 * Where a run's callback stands, from its audit records:
 * - `delivered`: a 2xx was received;
 * - `pending`: accepted and not yet settled (retrying, or the process stopped mid-way);
 * - `failed`: given up on (a final answer, retries or age exhausted);
 * - `refused`: an integrity rule refused it, nothing was sent;
 * - `deduped`: only repeated terminal points are in this log (the original is elsewhere);
 * - `skipped`: will not call back for a benign reason;
 * - `held`: seen while the configuration was unusable; journalled, delivered after a restart with a
 *   fixed configuration (then `accepted` and later records take over);
 * - `unknown`: given up after a timeout, so the receiver may or may not have acted, or no record
 *   says anything about delivery.
 */
export type DeliveryState =
  | "delivered"
  | "pending"
  | "failed"
  | "refused"
  | "deduped"
  | "skipped"
  | "held"
  | "unknown";

export const DELIVERY_STATES: readonly DeliveryState[] = [
  "delivered",
  "pending",
  "failed",
  "refused",
  "deduped",
  "skipped",
  "held",
  "unknown",
];

/** One run (one `sessionId|runId`) as the review CLI shows it: small, whatever the log size. */
export interface RunSummary {
  /** `dedupeKey`, else `sessionId|runId`. */
  key: string;
  runId: string | null;
  taskId: string | null;
  /** The OpenCode session. */
  sessionId: string | null;
  callbackSession: string | null;
  outcome: string | null;
  state: DeliveryState;
  /** Attempt records seen. */
  attempts: number;
  firstTs: string;
  lastTs: string;
  /** Milliseconds from `accepted` to the first `delivered` after it. */
  latencyMs: number | null;
  /** The last error code recorded for the run. */
  lastCode: string | null;
  records: number;
}

/** Everything `summarizeRuns` learned in one pass. */
export interface RunsDigest {
  runs: Map<string, RunSummary>;
  records: number;
  /** Records that belong to no run (config errors, state errors without a run). */
  unattributed: number;
  /** Failure codes by record count (attempts, failures, refusals, config and state errors). */
  codes: Map<string, number>;
  firstTs: string | null;
  lastTs: string | null;
}

// Phases whose `code` is a failure in its own right; retry_scheduled repeats its attempt's code.
const FAILURE_CODE_PHASES = new Set([
  "attempt",
  "failed",
  "integrity_error",
  "config_error",
  "state_error",
  "held",
]);
const PENDING_PHASES = new Set([
  "accepted",
  "recovered",
  "reconciled",
  "redelivery",
  "retry_scheduled",
  "attempt",
]);
const STATE_PHASES = new Set([...PENDING_PHASES, "delivered", "failed", "integrity_error"]);

/** The run a record belongs to, or null. */
export function runKeyOf(record: AuditRecord): string | null {
  if (typeof record.dedupeKey === "string" && record.dedupeKey !== "") return record.dedupeKey;
  if (typeof record.sessionId === "string" && typeof record.runId === "string") {
    return `${record.sessionId}|${record.runId}`;
  }
  return null;
}

/**
 * Fold a stream of records into one small summary per run, so a log of millions of records is
 * reviewed in one pass with memory proportional to the number of runs.
 */
export async function summarizeRuns(records: AsyncIterable<AuditRecord>): Promise<RunsDigest> {
  const digest: RunsDigest = {
    runs: new Map(),
    records: 0,
    unattributed: 0,
    codes: new Map(),
    firstTs: null,
    lastTs: null,
  };
  const acceptedAt = new Map<string, number>();
  // Runs whose state a delivery or refusal record has set (deduped/skipped must not override).
  const decided = new Set<string>();
  for await (const record of records) {
    digest.records += 1;
    digest.firstTs ??= record.ts;
    digest.lastTs = record.ts;
    if (typeof record.code === "string" && FAILURE_CODE_PHASES.has(record.phase)) {
      digest.codes.set(record.code, (digest.codes.get(record.code) ?? 0) + 1);
    }
    const key = runKeyOf(record);
    if (key === null) {
      digest.unattributed += 1;
      continue;
    }
    let run = digest.runs.get(key);
    if (run === undefined) {
      run = {
        key,
        runId: null,
        taskId: null,
        sessionId: null,
        callbackSession: null,
        outcome: null,
        state: "unknown",
        attempts: 0,
        firstTs: record.ts,
        lastTs: record.ts,
        latencyMs: null,
        lastCode: null,
        records: 0,
      };
      digest.runs.set(key, run);
    }
    fold(run, record, acceptedAt, decided);
  }
  return digest;
}

function fold(
  run: RunSummary,
  record: AuditRecord,
  acceptedAt: Map<string, number>,
  decided: Set<string>,
): void {
  run.records += 1;
  run.lastTs = record.ts;
  // An integrity refusal carries the routing in `tags` rather than at the top level.
  const tags = (record.tags ?? {}) as Record<string, unknown>;
  run.runId ??= str(record.runId) ?? str(tags.runId);
  run.taskId ??= str(record.taskId) ?? str(tags.taskId);
  run.sessionId ??= str(record.sessionId);
  run.callbackSession ??= str(record.callbackSession) ?? str(tags.callbackSession);
  run.outcome ??= str(record.outcome);
  if (typeof record.code === "string") run.lastCode = record.code;

  const undecided = !decided.has(run.key);
  if (STATE_PHASES.has(record.phase)) decided.add(run.key);
  switch (record.phase) {
    case "accepted":
      acceptedAt.set(run.key, Date.parse(record.ts));
      run.state = "pending";
      break;
    case "attempt":
      run.attempts += 1;
      run.state = "pending";
      break;
    case "delivered": {
      const since = acceptedAt.get(run.key);
      if (since !== undefined && run.latencyMs === null) run.latencyMs = Date.parse(record.ts) - since;
      acceptedAt.delete(run.key);
      run.state = "delivered";
      break;
    }
    case "failed":
      run.state = record.result === "unknown" ? "unknown" : "failed";
      break;
    case "integrity_error":
      run.state = "refused";
      break;
    case "deduped":
      // A repeated terminal point says nothing about the first one's delivery.
      if (undecided) run.state = "deduped";
      break;
    case "skipped":
      if (undecided) run.state = "skipped";
      break;
    case "held":
      if (undecided) run.state = "held";
      break;
    default:
      if (PENDING_PHASES.has(record.phase)) run.state = "pending";
  }
  // A delivered run has no failure to show: codes of earlier attempts, or of a refused redelivery
  // afterwards, are its history (`audit show`), not its state.
  if (run.state === "delivered") run.lastCode = null;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}
