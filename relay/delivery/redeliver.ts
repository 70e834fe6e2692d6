import { hostname } from "node:os";
import { join } from "node:path";
import type { AuditLog, VerifyResult } from "../audit/index.ts";
import { AUDIT_KEY_FILE, readAuditKey, verifyAudit } from "../audit/index.ts";
import { callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { ERROR_CODES, type ErrorCode, toRelayError } from "../errors/index.ts";
import {
  type LeaseHolder,
  NUDGE_POLL_MS,
  OUTBOX_RESCAN_MS,
  type OutboxEntry,
  openDedupeStore,
  openOutbox,
  readClaimedEntry,
  readLeaseHolder,
} from "../state/index.ts";
import { PROMOTE_AFTER_MS } from "./delivery-loop.ts";
import { findRedelivery } from "./find-redelivery.ts";
import { Agent } from "./http-client.ts";
import { nudgeHolder } from "./nudge-holder.ts";
import { type RedeliveryFrom, sendRedelivery } from "./send-redelivery.ts";

export interface RedeliverOptions {
  config: RelayConfig;
  /** The relay's state dir: callbacks are read from its outbox (`failed/`, pending) and dedupe markers. */
  stateDir: string;
  audit: AuditLog;
  /** The audit log to consult, so a callback the log shows delivered is never resent unasked. */
  auditPath: string;
  runId: string;
  /** The OpenCode session whose callback is meant, when the runId ran in several. @default any (one) */
  session?: string;
  /**
   * Attempt a callback that is still pending (not yet failed for good) now, instead of at its
   * due time (`--now`): only under its lease, so never while a live relay is delivering it.
   * @default false
   */
  pending?: boolean;
  /**
   * Resend even a callback the audit log shows delivered (the receiver lost it), or when the log
   * does not verify (`--force`); recorded as forced. @default false
   */
  force?: boolean;
  /**
   * How long the live relay holding a pending callback has to take a `--now` nudge, in ms.
   * @default 5000 (twice its 2 s look-out, and a second)
   */
  nudgeHonourMs?: number;
  /** Checks the audit log before its word is trusted. @default verifyAudit(auditPath) */
  verifyLog?: () => Promise<Pick<VerifyResult, "ok" | "problem">>;
  /** Injected for tests. @default Date.now */
  now?: () => number;
}

export interface RedeliverResult {
  ok: boolean;
  code?: ErrorCode;
  status?: number;
  /** REDELIVERY_AMBIGUOUS: the OpenCode sessions to choose from with `session`. */
  sessions?: string[];
  /** REDELIVERY_LEASED, or a nudged `--now`: the live relay holding the callback. */
  holder?: LeaseHolder;
  /** `--now` on a callback a live relay holds: that relay was asked to attempt it, and took it. */
  nudged?: true;
  /** REDELIVERY_PENDING / REDELIVERY_LEASED / a retryable `--now` failure: when it is due (epoch ms). */
  dueAt?: number;
  /** A `--now` attempt failed retryably: the callback is still pending. */
  stillPending?: true;
  /** REDELIVERY_AUDIT_UNVERIFIED: what verify found. */
  problem?: VerifyResult["problem"];
  /** A refusal whose code alone does not say it (a first attempt in flight, say): why. */
  reason?: string;
}

/**
 * An operator's resend of one callback (`audit redeliver <runId>`), with the SAME idempotency key,
 * rebuilt with the current configuration (a fixed token or gateway setting takes effect):
 * - failed for good (`outbox/failed/`): sent once; removed when delivered, kept otherwise;
 * - still pending: refused (REDELIVERY_PENDING) unless `pending` (`--now`), which sends it now
 *   under its lease, or, when a live relay holds the lease, nudges that relay to attempt it now
 *   and reports what its attempt did (REDELIVERY_LEASED when it does not take the nudge);
 * - delivered: refused (REDELIVERY_ALREADY_DELIVERED) unless `force`, which resends the callback
 *   its dedupe marker kept, recorded `forced: true`.
 * The audit log is trusted only when it verifies: otherwise nothing is sent or removed
 * (REDELIVERY_AUDIT_UNVERIFIED) unless `force`. No outbox entry is ever removed on the log's word.
 * Never rejects: problems come back as `{ ok: false, code }`, each audited as a `redelivery` record.
 */
export async function redeliver(options: RedeliverOptions): Promise<RedeliverResult> {
  const { config, audit, runId, auditPath } = options;
  const now = options.now ?? Date.now;
  const force = options.force === true;
  // With the state dir's audit key when there is one: a resealed log must not pass for intact.
  const keyPath = join(options.stateDir, AUDIT_KEY_FILE);
  const verifyLog =
    options.verifyLog ??
    (async () =>
      verifyAudit(
        auditPath,
        await readAuditKey(keyPath).then(
          (key) => ({ key }),
          () => ({}),
        ),
      ));
  const record = (input: Parameters<AuditLog["append"]>[0]) => audit.append(input);
  const outbox = openOutbox(options.stateDir);
  const dedupe = openDedupeStore(options.stateDir);
  const dispatcher = new Agent({ connect: { timeout: config.delivery.timeoutMs } });
  const scope = options.session === undefined ? {} : { sessionId: options.session };

  async function refuse(code: ErrorCode, extra: Partial<RedeliverResult> & Record<string, unknown> = {}) {
    await record({
      phase: "redelivery",
      ...scope,
      runId,
      code,
      reason: `redelivery of run ${runId} refused`,
      hint: ERROR_CODES[code].hint,
      ...extra,
    });
    const { sessions, holder, dueAt, problem, reason } = extra;
    return {
      ok: false,
      code,
      ...(sessions === undefined ? {} : { sessions }),
      ...(holder === undefined ? {} : { holder }),
      ...(typeof dueAt === "number" ? { dueAt } : {}),
      ...(problem === undefined ? {} : { problem }),
      ...(typeof reason === "string" ? { reason } : {}),
    } satisfies RedeliverResult;
  }

  /** null when the log may be trusted (or `force` says not to ask); else the refusal. */
  async function unverified(): Promise<RedeliverResult | null> {
    if (force) return null;
    const verdict = await verifyLog();
    return verdict.ok ? null : refuse("REDELIVERY_AUDIT_UNVERIFIED", { problem: verdict.problem });
  }

  /** The refusal for a lease another live process holds, naming it. */
  async function leased(key: string) {
    return refuse("REDELIVERY_LEASED", { holder: (await readLeaseHolder(outbox.dir, key)) ?? {} });
  }

  /** Send under the entry's lease; `held` answers when a live process holds it. */
  async function underLease(
    key: string,
    held: () => Promise<RedeliverResult>,
    send: () => Promise<RedeliveryFrom | null>,
  ): Promise<RedeliverResult> {
    const lease = await outbox.lease(key);
    if (lease === null) return held();
    try {
      const from = await send();
      if (from === null) return refuse("REDELIVERY_NOT_FOUND", { reason: "settled while being looked up" });
      const sent = await sendRedelivery({ config, outbox, dispatcher, now, record, forced: force }, from);
      return sent.stillPending ? { ...sent, dueAt: now() } : sent;
    } finally {
      await lease.release();
    }
  }

  /** `--now` on a callback a live relay holds: ask it to attempt now, and report what it did. */
  async function nudge(entry: OutboxEntry): Promise<RedeliverResult> {
    const key = entry.callback.dedupeKey;
    const holder = (await readLeaseHolder(outbox.dir, key)) ?? {};
    await record({
      ...callbackIds(entry.callback),
      phase: "redelivery",
      from: "pending",
      nudged: true,
      holder,
    });
    const done = await nudgeHolder(outbox, entry, {
      honourMs: options.nudgeHonourMs ?? 2 * NUDGE_POLL_MS + 1_000,
      attemptMs: config.delivery.timeoutMs + 5_000,
    });
    if (!done.honoured) return refuse("REDELIVERY_LEASED", { holder, dueAt: entry.dueAt });
    const by = { nudged: true as const, holder };
    switch (done.outcome) {
      case "delivered":
        return { ok: true, ...by };
      case "failed":
        return { ok: false, code: done.code, ...by };
      case "pending":
        return {
          ok: false,
          code: done.code ?? "DELIVERY_HTTP_STATUS",
          stillPending: true,
          dueAt: done.dueAt,
          ...by,
        };
      default:
        return { ok: false, code: "REDELIVERY_LEASED", ...by };
    }
  }

  try {
    const found = await findRedelivery(outbox, dedupe, auditPath, runId, options.session);
    switch (found.state) {
      case "none":
        return await refuse("REDELIVERY_NOT_FOUND");
      case "ambiguous":
        return await refuse("REDELIVERY_AMBIGUOUS", { sessions: found.sessions });
      case "staged": {
        // Not in the outbox yet, so no lease to take or nudge: the relay that staged it is
        // attempting it, and never two senders at once.
        const { writer } = found;
        if (writer.running)
          return await refuse(options.pending === true ? "REDELIVERY_LEASED" : "REDELIVERY_PENDING", {
            holder: { pid: writer.pid, host: hostname() },
            reason: `its first attempt is in flight (relay pid ${writer.pid}); if that attempt does not deliver it, it moves to the outbox within ${PROMOTE_AFTER_MS / 1000} s, where --now reaches it`,
          });
        return await refuse("REDELIVERY_PENDING", {
          reason:
            writer.pid === undefined
              ? "it is staged by a relay on another host sharing this state dir: that relay is attempting it, or, if it is gone, the next relay to start here sends it"
              : `it is staged by a relay that no longer runs (pid ${writer.pid}): the next relay to start on this state dir sends it, or a running one within ${OUTBOX_RESCAN_MS / 1000} s`,
        });
      }
      case "failed": {
        const { entry } = found;
        const stop = await unverified();
        if (stop !== null) return stop;
        if (found.delivered !== undefined && !force)
          return await refuse("REDELIVERY_ALREADY_DELIVERED", { sessionId: found.delivered.sessionId });
        const key = entry.callback.dedupeKey;
        return await underLease(
          key,
          () => leased(key),
          async () => ({ state: "failed", entry }),
        );
      }
      case "pending": {
        const { entry } = found;
        const key = entry.callback.dedupeKey;
        if (options.pending !== true) return await refuse("REDELIVERY_PENDING", { dueAt: entry.dueAt });
        return await underLease(
          key,
          () => nudge(entry),
          async () => {
            // Leased: look again, a relay may have delivered or given it up meanwhile.
            const current = await outbox.read(key);
            return current === null ? null : { state: "pending", entry: current };
          },
        );
      }
      case "delivered": {
        const { delivered } = found;
        const stop = await unverified();
        if (stop !== null) return stop;
        if (!force) return await refuse("REDELIVERY_ALREADY_DELIVERED", { sessionId: delivered.sessionId });
        const entry = await readClaimedEntry(options.stateDir, delivered.dedupeKey);
        if (entry === null)
          return await refuse("REDELIVERY_NOT_FOUND", {
            sessionId: delivered.sessionId,
            reason: "delivered, but its dedupe marker no longer holds the callback",
          });
        return await underLease(
          delivered.dedupeKey,
          () => leased(delivered.dedupeKey),
          async () => ({
            state: "delivered",
            entry,
            attempts: delivered.attempts,
          }),
        );
      }
    }
  } catch (error) {
    const err = toRelayError(error);
    await record({ phase: "failed", ...scope, runId, code: err.code, reason: err.message, hint: err.hint });
    return { ok: false, code: err.code };
  } finally {
    await dispatcher.close().catch(() => undefined);
    await outbox.close().catch(() => undefined);
  }
}
