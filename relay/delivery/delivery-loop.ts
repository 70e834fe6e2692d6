import type { AuditInput } from "../audit/index.ts";
import { type CallbackIds, callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import type { ErrorCode } from "../errors/index.ts";
import type { Outbox, OutboxEntry, OutboxLease } from "../state/index.ts";
import { attemptAndRecord } from "./attempt-and-record.ts";
import { failedRecord } from "./failed-record.ts";
import { Agent } from "./http-client.ts";
import { decideRetry, isExpired } from "./retry-policy.ts";
import { semaphore } from "./semaphore.ts";
import { stateErrorRecord } from "./state-error-record.ts";

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
  /**
   * Attempt an owned callback that waits for its retry now (an operator's `audit redeliver --now`).
   * false when it is not waiting (not owned, or an attempt is in flight, which is as soon).
   */
  nudge(dedupeKey: string): boolean;
  /** Cancel scheduled attempts; attempts in flight finish and leave their entries pending. */
  stop(): void;
  /** Close the keep-alive dispatcher (call after in-flight attempts have finished). */
  close(): Promise<void>;
}

/**
 * Delivery of accepted callbacks (DESIGN.md "Delivery"): one attempt at a time per callback, at most
 * `delivery.concurrency` toward the receiver, retries on unref'd timers with the same idempotency
 * key, and every step in the outbox before it is audited.
 */
export function createDeliveryLoop(options: DeliveryLoopOptions): DeliveryLoop {
  const { config, outbox, record, now } = options;
  const { delivery } = config;
  // One keep-alive pool per relay; connecting is bounded like the attempt itself.
  const agent = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: delivery.timeoutMs } });
  const owned = new Map<string, PendingCallback>();
  const slots = semaphore(delivery.concurrency);
  let stopped = false;

  async function attempt(item: PendingCallback): Promise<void> {
    const { entry } = item;
    const { callback } = entry;
    if (stopped || owned.get(callback.dedupeKey) !== item) return;
    if (isExpired(callback.acceptedAt, now(), delivery)) return settle(item, { code: "DELIVERY_EXPIRED" });
    const ids = callbackIds(callback);
    const outcome = await attemptAndRecord({
      callback,
      attempt: entry.attempts + 1,
      config,
      dispatcher: agent,
      now,
      record,
      slots,
      stillWanted: () => !stopped,
      ...(item.ready === undefined ? {} : { ready: item.ready }),
      forget: async () => {
        owned.delete(callback.dedupeKey);
        if (item.durable)
          await outbox.remove(callback.dedupeKey).catch((e) => record(stateErrorRecord(ids, e)));
        await item.lease?.release().catch(() => undefined);
      },
    });
    if (outcome.kind === "skipped") return;
    if (outcome.kind === "unsendable") {
      return settle(item, { code: outcome.error.code, reason: outcome.error.message });
    }
    entry.attempts += 1;
    if (outcome.kind === "delivered") return;
    entry.lastCode = outcome.code;
    entry.lastResult = outcome.lastResult;
    if (outcome.kind === "final") return settle(item, { code: outcome.code, status: outcome.result.status });
    const decision = decideRetry({
      attempts: entry.attempts,
      acceptedAt: callback.acceptedAt,
      now: now(),
      retryAfterMs: outcome.result.retryAfterMs,
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
    await record(
      failedRecord(ids, {
        code: why.code,
        reason: why.reason ?? `callback not delivered after ${entry.attempts} attempt(s)`,
        attempts: entry.attempts,
        status: why.status,
        lastCode: entry.lastCode,
        lastResult: entry.lastResult,
      }),
    );
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
    nudge(key) {
      const item = owned.get(key);
      if (stopped || item?.cancel === undefined) return false;
      item.cancel();
      delete item.cancel;
      item.entry.dueAt = now();
      wake(item);
      return true;
    },
    stop() {
      stopped = true;
      for (const item of owned.values()) item.cancel?.();
    },
    close: () => agent.close().catch(() => undefined),
  };
}
