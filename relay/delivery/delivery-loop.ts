import type { AuditInput } from "../audit/index.ts";
import { type CallbackIds, callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import type { ErrorCode } from "../errors/index.ts";
import { type DedupeStore, type Outbox, type Schedule, unrefTimeout } from "../state/index.ts";
import { attemptAndRecord } from "./attempt-and-record.ts";
import { failedRecord } from "./failed-record.ts";
import { forgetDelivered } from "./forget-delivered.ts";
import { Agent } from "./http-client.ts";
import type { PendingCallback } from "./pending-callback.ts";
import { decideRetry, isExpired } from "./retry-policy.ts";
import { semaphore } from "./semaphore.ts";
import { stateErrorRecord } from "./state-error-record.ts";

/**
 * How long a first attempt may be in flight before its callback is promoted from its staged batch
 * to the outbox (pending-callback.ts): well inside HALF_WRITTEN_MS (10 s), after which another
 * process's recovery would take the batch.
 */
export const PROMOTE_AFTER_MS = 2_000;

export interface DeliveryLoopOptions {
  config: RelayConfig;
  outbox: Outbox;
  /** Where a run delivered from memory is claimed once delivered. */
  dedupe: DedupeStore;
  /** Appends an audit record; never rejects. */
  record(input: AuditInput): Promise<void>;
  /** Runs work off the caller's stack, counted by the relay's drain(). */
  run(work: () => Promise<void>, ids: CallbackIds): void;
  /** Runs work at once, on the caller's stack up to its first `await`, counted like run(). @default run */
  runNow?(work: () => Promise<void>, ids: CallbackIds): void;
  now: () => number;
  schedule: Schedule;
  /**
   * The PROMOTE_AFTER_MS timer's: wall-clock time, as the age of a staged file is judged by the
   * file's time (outbox-lease.ts olderThan), never by an injected clock. @default an unref'd setTimeout
   */
  promoteSchedule?: Schedule;
  random?: () => number;
}

export interface DeliveryLoop {
  /** Whether this loop owns the callback of this dedupe key. */
  has(dedupeKey: string): boolean;
  /**
   * Own a callback from now on: attempt it when due, retry, and settle it. A callback due now is
   * attempted at once: its request leaves before start() returns when a delivery slot is free.
   */
  start(item: PendingCallback): void;
  /**
   * Attempt an owned callback that waits for its retry now (an operator's `audit redeliver --now`).
   * false when it is not waiting (not owned, or an attempt is in flight, which is as soon).
   */
  nudge(dedupeKey: string): boolean;
  /** Cancel scheduled attempts; attempts in flight finish and leave their entries pending. */
  stop(): void;
  /**
   * Promote every owned callback still only in its staged batch (an attempt skipped by stop()),
   * so that it waits in the outbox like the rest. Call after in-flight attempts have finished.
   */
  promoteStaged(): Promise<void>;
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
      ready: (delivered) => {
        stopPromoteTimer(item);
        // Delivered before any promote: it never will be (forget marks it delivered from its
        // staged batch instead). Not delivered: it waits for a retry, or is kept as failed, in
        // the outbox.
        if (delivered && item.ready === undefined) return undefined;
        return item.promote?.() ?? item.ready;
      },
      forget: async () => {
        owned.delete(callback.dedupeKey);
        await forgetDelivered(item, { outbox, dedupe: options.dedupe, record });
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
    stopPromoteTimer(item);
    await (item.promote?.() ?? item.ready);
    if (item.durable) {
      const kept = await outbox.moveToFailed(entry, why.code, now()).then(
        () => true,
        (e: unknown) => record(stateErrorRecord(ids, e)).then(() => false),
      );
      // Once kept in failed/, a staged copy that was never promoted must not be resumed.
      if (kept && item.stagedPath !== undefined) await outbox.discard(item.stagedPath);
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

  /**
   * Write the entry's new attempt count and due time. A failure (a full disk) leaves the older copy
   * on disk, which stays the callback's: it is still forgotten once delivered, and resumed after a
   * restart with its older count (a few more attempts, never a lost or doubled callback).
   */
  async function persist(item: PendingCallback) {
    if (!item.durable || item.stagedPath !== undefined) return;
    await outbox
      .put(item.entry)
      .catch((error: unknown) => record(stateErrorRecord(callbackIds(item.entry.callback), error)));
  }

  /** Attempt when due: at once (counted by drain) or on an unref'd timer. */
  function wake(item: PendingCallback, onThisStack = false) {
    if (stopped) return;
    const run = onThisStack ? (options.runNow ?? options.run) : options.run;
    const go = () => run(() => attempt(item), callbackIds(item.entry.callback));
    const delay = item.entry.dueAt - now();
    if (delay <= 0) return go();
    item.cancel = options.schedule(() => {
      delete item.cancel;
      go();
    }, delay);
  }

  /**
   * Promote a callback still in flight after PROMOTE_AFTER_MS (pending-callback.ts): another
   * process's recovery takes a staged batch older than HALF_WRITTEN_MS, the lease keeps it off.
   */
  function armPromoteTimer(item: PendingCallback) {
    if (item.promote === undefined || item.ready !== undefined) return;
    item.cancelPromote = (options.promoteSchedule ?? unrefTimeout)(() => {
      delete item.cancelPromote;
      void item.promote?.();
    }, PROMOTE_AFTER_MS);
  }
  function stopPromoteTimer(item: PendingCallback) {
    item.cancelPromote?.();
    delete item.cancelPromote;
  }

  return {
    has: (key) => owned.has(key),
    start(item) {
      owned.set(item.entry.callback.dedupeKey, item);
      wake(item, true);
      if (owned.get(item.entry.callback.dedupeKey) === item) armPromoteTimer(item);
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
      for (const item of owned.values()) {
        item.cancel?.();
        stopPromoteTimer(item);
      }
    },
    async promoteStaged() {
      await Promise.all([...owned.values()].map((item) => item.promote?.()));
    },
    close: () => agent.close().catch(() => undefined),
  };
}
