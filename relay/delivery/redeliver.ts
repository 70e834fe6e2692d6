import type { AuditLog } from "../audit/index.ts";
import { readAudit } from "../audit/index.ts";
import { callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { ERROR_CODES, type ErrorCode, RelayError, toRelayError } from "../errors/index.ts";
import { type FailedOutboxEntry, openOutbox } from "../state/index.ts";
import { attemptAndRecord } from "./attempt-and-record.ts";
import { failedRecord } from "./failed-record.ts";
import { Agent } from "./http-client.ts";

export interface RedeliverOptions {
  config: RelayConfig;
  /** The relay's state dir: the failed callback is read from `outbox/failed/`. */
  stateDir: string;
  audit: AuditLog;
  /** The audit log to consult, so a callback the log shows delivered is never resent. */
  auditPath: string;
  runId: string;
  /** Injected for tests. @default Date.now */
  now?: () => number;
}

export interface RedeliverResult {
  ok: boolean;
  code?: ErrorCode;
  status?: number;
}

/**
 * An operator's resend of a callback that failed for good (`audit redeliver <runId>`): one attempt,
 * rebuilt from the failed outbox entry and current configuration (a fixed token or gateway setting
 * takes effect), with the SAME idempotency key. Audits `redelivery`, `attempt`, then `delivered`
 * (the failed entry is removed) or `failed` (the entry stays, its attempt count updated).
 * Never rejects: problems come back as `{ ok: false, code }`.
 */
export async function redeliver(options: RedeliverOptions): Promise<RedeliverResult> {
  const { config, audit, runId } = options;
  const now = options.now ?? Date.now;
  const outbox = openOutbox(options.stateDir);
  const agent = new Agent({ connect: { timeout: config.delivery.timeoutMs } });
  try {
    const matches = (await outbox.failed()).filter((entry) => entry.callback.routing?.runId === runId);
    if (matches.length > 1) return refuse("REDELIVERY_AMBIGUOUS", { sessions: matches.length });
    const entry = matches[0];
    if (entry === undefined) {
      const delivered = await deliveredKeys(options.auditPath, runId);
      return refuse(delivered.size > 0 ? "REDELIVERY_ALREADY_DELIVERED" : "REDELIVERY_NOT_FOUND");
    }
    const { callback } = entry;
    const ids = callbackIds(callback);
    if ((await deliveredKeys(options.auditPath, runId)).has(callback.dedupeKey)) {
      await outbox.removeFailed(callback.dedupeKey);
      return refuse("REDELIVERY_ALREADY_DELIVERED", ids);
    }
    // Two operators redelivering at once would both send: one of them waits for the other's verdict.
    const lease = await outbox.lease(callback.dedupeKey);
    if (lease === null)
      return refuse("REDELIVERY_NOT_FOUND", { ...ids, reason: "a redelivery is in progress" });
    try {
      return await sendOnce(entry);
    } finally {
      await lease.release();
    }
  } catch (error) {
    const err = toRelayError(error);
    await audit.append({ phase: "failed", runId, code: err.code, reason: err.message, hint: err.hint });
    return { ok: false, code: err.code };
  } finally {
    await agent.close().catch(() => undefined);
    await outbox.close().catch(() => undefined);
  }

  async function refuse(code: ErrorCode, extra: Record<string, unknown> = {}): Promise<RedeliverResult> {
    await audit.append({
      phase: "redelivery",
      runId,
      code,
      reason: `redelivery of run ${runId} refused`,
      hint: ERROR_CODES[code].hint,
      ...extra,
    });
    return { ok: false, code };
  }

  async function sendOnce(entry: FailedOutboxEntry): Promise<RedeliverResult> {
    const { callback } = entry;
    const ids = callbackIds(callback);
    await audit.append({ ...ids, phase: "redelivery", attempts: entry.attempts, previousCode: entry.code });
    const attempt = entry.attempts + 1;
    const outcome = await attemptAndRecord({
      callback,
      attempt,
      config,
      dispatcher: agent,
      now,
      record: (input) => audit.append(input),
      forget: () => outbox.removeFailed(callback.dedupeKey),
      redelivery: true,
    });
    if (outcome.kind === "unsendable") throw outcome.error;
    if (outcome.kind === "skipped") throw new RelayError("INTERNAL", "a redelivery was skipped");
    const { status } = outcome.result;
    if (outcome.kind === "delivered") return { ok: true, ...(status === undefined ? {} : { status }) };
    const { code, lastResult } = outcome;
    await outbox.moveToFailed({ ...entry, attempts: attempt, lastCode: code, lastResult }, code, now());
    await audit.append(
      failedRecord(ids, {
        code,
        reason: `redelivery of run ${callback.routing.runId} was not accepted`,
        attempts: attempt,
        redelivery: true,
        status,
        lastResult,
      }),
    );
    return { ok: false, code, ...(status === undefined ? {} : { status }) };
  }
}

/** Dedupe keys of this run that the audit log shows delivered. */
async function deliveredKeys(auditPath: string, runId: string): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const record of readAudit(auditPath)) {
    if (record.phase === "delivered" && record.runId === runId && typeof record.dedupeKey === "string") {
      keys.add(record.dedupeKey);
    }
  }
  return keys;
}
