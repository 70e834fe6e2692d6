import type { AuditInput, AuditLog } from "../audit/index.ts";
import type { InstanceInfo, TerminalRun } from "../callback/index.ts";
import { buildCallback, type CallbackIds, callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { createDeliveryLoop, type PendingCallback, semaphore, stateErrorRecord } from "../delivery/index.ts";
import { toRelayError } from "../errors/index.ts";
import { checkIntegrity } from "../integrity/index.ts";
import {
  DEDUPE_RETENTION_MS,
  type OutboxEntry,
  type OutboxLease,
  openDedupeStore,
  openOutbox,
} from "../state/index.ts";

export interface RelayOptions {
  config: RelayConfig;
  instance: InstanceInfo;
  audit: AuditLog;
  /** Outbox and dedupe state (folders 0700, files 0600); several processes may share it. */
  stateDir: string;
  /** Injected for tests: epoch-ms clock. @default Date.now */
  now?: () => number;
  /** Injected for tests: run `fn` after `delayMs`, return a cancel function. @default an unref'd setTimeout */
  schedule?: (fn: () => void, delayMs: number) => () => void;
  /** Injected for tests: uniform [0, 1) source for backoff jitter. @default Math.random */
  random?: () => number;
  /**
   * Called with a run's dedupe key once the relay has taken the run for good: claimed on disk,
   * deduped, or refused with an integrity record. The plugin retires the run's journal entry
   * then. Not called when the claim could not be written (the journal keeps the run). Must not throw.
   */
  onClaimed?: (dedupeKey: string) => void;
}

export interface Relay {
  /** Synchronous, O(1), never throws: takes a terminal run; all work happens off the caller's stack. */
  submit(run: TerminalRun): void;
  /** Resolves when every submitted run is processed and no attempt is in flight (scheduled retries may remain). */
  drain(): Promise<void>;
  /** Resume callbacks left pending in the outbox (after a crash/restart); audited as `recovered`. Idempotent. */
  recover(): Promise<void>;
  /** Stop timers, close the HTTP dispatcher. Pending callbacks stay in the outbox. */
  close(): Promise<void>;
}

/** Dedupe keys remembered in memory (in front of the disk markers) before the oldest are forgotten. */
const MEMORY_CLAIMS = 10_000;

/**
 * The callback relay: integrity → dedupe claim → write-ahead outbox → delivery with retries, one
 * audit record per step (DESIGN.md "Terminal runs and dedupe", "Delivery"). The run is taken as
 * handed over (not copied): the caller must not mutate it afterwards. Nothing the relay does can
 * throw into, or wait on the network in, the OpenCode event hook that submits runs.
 */
export function createRelay(options: RelayOptions): Relay {
  const { config, instance, audit } = options;
  const now = options.now ?? Date.now;
  const dedupe = openDedupeStore(options.stateDir, { now });
  const outbox = openOutbox(options.stateDir);
  const claims = new Set<string>();
  const taken = (dedupeKey: string) => {
    try {
      options.onClaimed?.(dedupeKey);
    } catch {
      // The journal entry stays; the next start finds the claim and retires it.
    }
  };
  let closed = false;
  let auditBroken = false;
  let busy = 0;
  let idle: Array<() => void> = [];

  /**
   * Append without waiting for the disk: the log's queue keeps records in call order, and the
   * delivery path must not wait ~1.5 ms (lock, write, head file) per step. drain() flushes.
   * After a crash the last few milliseconds of records may be missing; the callback itself is
   * safe in the outbox, and recover() says what it resumed.
   */
  const record = (input: AuditInput): Promise<void> => {
    try {
      audit.append(input).catch(appendFailed);
    } catch (error) {
      appendFailed(error);
    }
    return DONE;
  };
  const appendFailed = (error: unknown) => {
    // The log promises never to reject; if it does anyway, the host must not pay for it (once is enough).
    if (!auditBroken)
      process.stderr.write(`opencode-callback-relay: audit append failed: ${String(error)}\n`);
    auditBroken = true;
  };

  /** Run work on a later turn of the event loop, counted for drain(); an escaped throw becomes INTERNAL. */
  const run = (work: () => Promise<void>, ids: CallbackIds | (() => CallbackIds)) => {
    busy++;
    setImmediate(() => {
      work()
        .catch((error: unknown) => {
          const err = toRelayError(error);
          return record({
            ...safeIds(ids),
            phase: "failed",
            code: err.code,
            reason: err.message,
            hint: err.hint,
          });
        })
        .catch(() => undefined)
        .finally(() => {
          if (--busy > 0) return;
          const waiters = idle;
          idle = [];
          for (const wake of waiters) wake();
        });
    });
  };
  const idleNow = () => (busy === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve)));

  const loop = createDeliveryLoop({
    config,
    outbox,
    record,
    run,
    now,
    schedule: options.schedule ?? unrefTimeout,
    ...(options.random ? { random: options.random } : {}),
  });

  // A burst of runs ending together (a CI fan-out) must not start hundreds of file-operation
  // chains at once in OpenCode's process: accept a few at a time, in submission order.
  const accepting = semaphore(ACCEPT_CONCURRENCY);
  async function accept(run: TerminalRun): Promise<void> {
    await accepting.acquire();
    try {
      await acceptNow(run);
    } finally {
      accepting.release();
    }
  }

  async function acceptNow(run: TerminalRun): Promise<void> {
    const verdict = checkIntegrity(run, instance, config);
    if (!verdict.ok) {
      const { error, tags } = verdict;
      await record({
        phase: "integrity_error",
        sessionId: run.sessionId,
        ...(tags.runId === undefined ? {} : { runId: tags.runId }),
        outcome: run.outcome,
        code: error.code,
        reason: error.message,
        hint: error.hint,
        tags,
        ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
      });
      if (tags.runId !== undefined) taken(`${run.sessionId}|${tags.runId}`);
      return;
    }
    const callback = buildCallback(run, verdict, now());
    const ids = callbackIds(callback);
    if (claims.has(callback.dedupeKey)) {
      await record({ ...ids, phase: "deduped" });
      return taken(callback.dedupeKey);
    }
    remember(claims, callback.dedupeKey);
    const item: PendingCallback = {
      entry: { v: 1, callback, attempts: 0, dueAt: callback.acceptedAt },
      lease: null,
      durable: true,
    };
    try {
      // Write-ahead: the callback is on disk before it is claimed, and the claim is a hard link
      // to that file (created only if no marker exists: whoever links first calls back, in any
      // process). A crash between claiming and promoting leaves a staged file recover() finds.
      const staged = await outbox.stage(item.entry);
      const claimed = await dedupe.claimStaged(callback.dedupeKey, staged).catch(async (error: unknown) => {
        await outbox.discard(staged);
        throw error;
      });
      if (!claimed) {
        await outbox.discard(staged);
        await record({ ...ids, phase: "deduped" });
        return taken(callback.dedupeKey);
      }
      taken(callback.dedupeKey);
      // The staged file and the claim already hold the callback on disk: take the lease and
      // promote it while the first attempt goes out (the loop waits for this before touching
      // the outbox again). A crash before the promote leaves the staged file for recover().
      item.ready = (async () => {
        item.lease = await outbox.lease(callback.dedupeKey);
        await outbox.promote(staged, callback.dedupeKey);
      })().catch((error: unknown) => {
        item.durable = false;
        return record(stateErrorRecord(ids, error));
      });
    } catch (error) {
      item.durable = false;
      await record(stateErrorRecord(ids, error));
    }
    await record({
      ...ids,
      phase: "accepted",
      outcome: callback.routing.outcome,
      fallbackUsed: callback.routing.fallbackUsed,
      requestedAgent: callback.routing.requestedAgent,
      resolvedAgent: callback.routing.resolvedAgent,
      actualAgent: callback.routing.actualAgent,
      durable: item.durable,
    });
    loop.start(item);
  }

  async function resume(entry: OutboxEntry, lease: OutboxLease): Promise<void> {
    remember(claims, entry.callback.dedupeKey);
    await record({
      ...callbackIds(entry.callback),
      phase: "recovered",
      attempts: entry.attempts,
      dueAt: new Date(entry.dueAt).toISOString(),
    });
    loop.start({ entry, lease, durable: true });
  }

  return {
    submit(terminal) {
      try {
        if (closed) return;
        run(
          () => accept(terminal),
          () => ({ sessionId: String(terminal.sessionId) }),
        );
      } catch {
        // submit runs on OpenCode's event hook: a sync throw would stop later plugins' hooks.
      }
    },
    async drain() {
      await idleNow();
      await audit.flush().catch(appendFailed);
    },
    async recover() {
      if (closed) return;
      // Compaction: old markers and old failed entries go; a run that old will not be seen again.
      await dedupe.prune(DEDUPE_RETENTION_MS).catch(() => 0);
      await outbox.pruneFailed(DEDUPE_RETENTION_MS).catch(() => 0);
      for (const { path, entry } of await outbox.staged()) {
        const key = entry.callback.dedupeKey;
        if (!(await dedupe.isClaimOf(key, path))) {
          await outbox.discard(path); // a claim that lost: the winner calls back
          continue;
        }
        if (loop.has(key)) continue;
        const lease = await outbox.lease(key);
        if (lease === null) continue;
        await outbox.promote(path, key);
        await resume(entry, lease);
      }
      const { entries, unreadable } = await outbox.pending();
      for (const file of unreadable) {
        await record({ phase: "failed", code: "INTERNAL", reason: `unreadable outbox entry ${file}`, file });
      }
      for (const entry of entries) {
        const key = entry.callback?.dedupeKey;
        if (typeof key !== "string" || loop.has(key)) continue;
        const lease = await outbox.lease(key);
        if (lease === null) continue; // a live relay (here or in another process) is delivering it
        // Lease, then look again: the listing may predate a delivery that removed the entry and
        // released its lease (delivery removes the entry before releasing), here or elsewhere.
        const current = await outbox.read(key);
        if (current === null) {
          await lease.release().catch(() => undefined);
          continue;
        }
        await resume(current, lease);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      loop.stop();
      // In-flight attempts finish (bounded by timeoutMs); what they leave pending stays in the outbox.
      while (busy > 0) await idleNow();
      await loop.close();
      await outbox.close().catch(() => undefined);
    },
  };
}

const DONE: Promise<void> = Promise.resolve();
/** Runs being accepted (integrity, stage, claim) at once. */
const ACCEPT_CONCURRENCY = 16;

function safeIds(ids: CallbackIds | (() => CallbackIds)): CallbackIds {
  try {
    return typeof ids === "function" ? ids() : ids;
  } catch {
    return {};
  }
}

function remember(set: Set<string>, key: string) {
  set.add(key);
  if (set.size > MEMORY_CLAIMS) set.delete(set.values().next().value as string);
}

function unrefTimeout(fn: () => void, delayMs: number): () => void {
  const timer = setTimeout(fn, delayMs);
  timer.unref?.();
  return () => clearTimeout(timer);
}
