import type { AuditInput } from "../audit/index.ts";
import { buildRequest, type CallbackIds, callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { targetSecrets } from "../config/index.ts";
import { ERROR_CODES, type ErrorCode, RelayError, toRelayError } from "../errors/index.ts";
import type { Outbox, OutboxEntry, OutboxLease } from "../state/index.ts";
import { Agent } from "./http-client.ts";
import { decideRetry } from "./retry-policy.ts";
import { semaphore } from "./semaphore.ts";
import { type AttemptResult, attemptFields, sendAttempt } from "./send-attempt.ts";

/** One accepted callback a relay owns until it is delivered or fails for good. */
export interface PendingCallback {
  entry: OutboxEntry;
  /** Our lease on the outbox entry; null when the callback lives in memory only. */
  lease: OutboxLease | null;
  /** false once the state dir refused a write: the outbox no longer follows this callback. */
  durable: boolean;
  /** Cancels the scheduled next attempt. */
  cancel?: () => void;
  /**
   * Settles once the entry's lease is taken and its staged file promoted to the outbox. The first
   * attempt does not wait for it (the staged file and the claim already hold the callback on
   * disk); every outbox write after an attempt does, so a slow promote can never resurrect an
   * entry that was delivered meanwhile. Never rejects.
   */
  ready?: Promise<void>;
}

export interface DeliveryLoopOptions {
  config: RelayConfig;
  outbox: Outbox;
  /** Appends an audit record; never rejects. */
  record(input: AuditInput): Promise<void>;
  /** Runs work off the caller's stack, counted by the relay's drain(). */
  run(work: () => Promise<void>, ids: CallbackIds): void;
  now: () => number;
  schedule: (fn: () => void, delayMs: number) => () => void;
  random?: () => number;
}

export interface DeliveryLoop {
  /** Whether this loop owns the callback of this dedupe key. */
  has(dedupeKey: string): boolean;
  /** Own a callback from now on: attempt it when due, retry, and settle it. */
  start(item: PendingCallback): void;
  /** Cancel scheduled attempts; attempts in flight finish and leave their entries pending. */
  stop(): void;
  /** Close the keep-alive dispatcher (call after in-flight attempts have finished). */
  close(): Promise<void>;
}

/** The audit record of a state dir write that failed: delivery goes on in memory. */
export function stateErrorRecord(ids: CallbackIds, error: unknown): AuditInput {
  const err = toRelayError(error);
  return { ...ids, phase: "state_error", code: "STATE_UNWRITABLE", reason: err.message, hint: err.hint };
}

/**
 * Delivery of accepted callbacks (DESIGN.md "Delivery"): one attempt at a time per callback, at most
 * `delivery.concurrency` toward the receiver, retries on unref'd timers with the same idempotency
 * key, and every step in the outbox before it is audited.
 */
export function createDeliveryLoop(options: DeliveryLoopOptions): DeliveryLoop {
  const { config, outbox, record, now } = options;
  const { delivery, target } = config;
  // One keep-alive pool per relay; connecting is bounded like the attempt itself.
  const agent = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: delivery.timeoutMs } });
  const secrets = targetSecrets(target);
  const owned = new Map<string, PendingCallback>();
  const slots = semaphore(delivery.concurrency);
  let stopped = false;

  async function attempt(item: PendingCallback): Promise<void> {
    const { entry } = item;
    const { callback } = entry;
    if (stopped || owned.get(callback.dedupeKey) !== item) return;
    if (now() > callback.acceptedAt + delivery.maxAgeMs) return settle(item, { code: "DELIVERY_EXPIRED" });
    let result: AttemptResult | RelayError;
    let url = target.url;
    await slots.acquire();
    try {
      if (stopped) return;
      const wire = buildRequest(callback, target, { summaryMaxChars: config.summaryMaxChars, now });
      url = wire.url;
      result = await sendAttempt(wire, { dispatcher: agent, timeoutMs: delivery.timeoutMs, secrets, now });
    } catch (error) {
      // Building the request failed (CONFIG_INVALID, PAYLOAD_TOO_LARGE): no attempt will do better.
      result = toRelayError(error);
    } finally {
      slots.release();
    }
    await item.ready;
    if (result instanceof RelayError) return settle(item, { code: result.code, reason: result.message });
    entry.attempts += 1;
    const ids = callbackIds(callback);
    await record({
      ...ids,
      phase: "attempt",
      ...attemptFields(result, { attempt: entry.attempts, url, kind: target.kind }),
    });
    if (result.verdict === "delivered") {
      owned.delete(callback.dedupeKey);
      // Forget the entry before saying so: a crash in between must not resend a delivered callback.
      if (item.durable)
        await outbox.remove(callback.dedupeKey).catch((e) => record(stateErrorRecord(ids, e)));
      await item.lease?.release().catch(() => undefined);
      await record({ ...ids, phase: "delivered", attempts: entry.attempts, status: result.status ?? 0 });
      return;
    }
    entry.lastCode = result.code ?? "DELIVERY_HTTP_STATUS";
    entry.lastResult = result.result === "unknown" ? "unknown" : "failed";
    if (result.verdict === "final") return settle(item, { code: entry.lastCode, status: result.status });
    const decision = decideRetry({
      attempts: entry.attempts,
      acceptedAt: callback.acceptedAt,
      now: now(),
      retryAfterMs: result.retryAfterMs,
      policy: delivery,
      ...(options.random ? { random: options.random } : {}),
    });
    if (decision.action === "stop") return settle(item, { code: decision.code });
    entry.dueAt = decision.dueAt;
    await persist(item);
    await record({
      ...ids,
      phase: "retry_scheduled",
      attempt: entry.attempts,
      delayMs: decision.delayMs,
      dueAt: new Date(decision.dueAt).toISOString(),
      delaySource: decision.source,
      code: entry.lastCode,
    });
    wake(item);
  }

  /** Final failure: keep the entry in `failed/` for `audit redeliver`, and say why. */
  async function settle(
    item: PendingCallback,
    why: { code: ErrorCode; reason?: string; status?: number | undefined },
  ) {
    const { entry } = item;
    const ids = callbackIds(entry.callback);
    owned.delete(entry.callback.dedupeKey);
    await item.ready;
    if (item.durable) {
      await outbox.moveToFailed(entry, why.code, now()).catch((e) => record(stateErrorRecord(ids, e)));
    }
    await item.lease?.release().catch(() => undefined);
    await record({
      ...ids,
      phase: "failed",
      code: why.code,
      reason: why.reason ?? `callback not delivered after ${entry.attempts} attempt(s)`,
      hint: ERROR_CODES[why.code].hint,
      attempts: entry.attempts,
      ...(why.status === undefined ? {} : { status: why.status }),
      ...(entry.lastCode === undefined ? {} : { lastCode: entry.lastCode }),
      // A timeout may have reached the receiver: say the outcome is unknown, not "not delivered".
      ...(entry.lastResult === "unknown" ? { result: "unknown" } : {}),
    });
  }

  async function persist(item: PendingCallback) {
    if (!item.durable) return;
    try {
      await outbox.put(item.entry);
    } catch (error) {
      item.durable = false;
      await record(stateErrorRecord(callbackIds(item.entry.callback), error));
    }
  }

  /** Attempt when due: at once (counted by drain) or on an unref'd timer. */
  function wake(item: PendingCallback) {
    if (stopped) return;
    const go = () => options.run(() => attempt(item), callbackIds(item.entry.callback));
    const delay = item.entry.dueAt - now();
    if (delay <= 0) return go();
    item.cancel = options.schedule(() => {
      delete item.cancel;
      go();
    }, delay);
  }

  return {
    has: (key) => owned.has(key),
    start(item) {
      owned.set(item.entry.callback.dedupeKey, item);
      wake(item);
    },
    stop() {
      stopped = true;
      for (const item of owned.values()) item.cancel?.();
    },
    close: () => agent.close().catch(() => undefined),
  };
}
