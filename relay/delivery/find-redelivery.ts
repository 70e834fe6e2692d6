import type { FailedOutboxEntry, Outbox, OutboxEntry } from "../state/index.ts";
import { type DeliveredInLog, deliveredInLog } from "./delivered-in-log.ts";

/** Where a run's callback stands, as `audit redeliver` sees it. */
export type RedeliveryTarget =
  | { state: "none" }
  /** Several OpenCode sessions carry the runId (and no `--session` picked one). */
  | { state: "ambiguous"; sessions: string[] }
  /** Failed for good, in `outbox/failed/`; `delivered` when the (unverified) log says otherwise. */
  | { state: "failed"; entry: FailedOutboxEntry; delivered: DeliveredInLog | undefined }
  /** Still pending in the outbox: a relay retries it at `entry.dueAt`. */
  | { state: "pending"; entry: OutboxEntry }
  /** Not in the outbox; the (unverified) log records it delivered. */
  | { state: "delivered"; delivered: DeliveredInLog };

/**
 * Find the callback of `runId` (of OpenCode session `session`, when given) in the outbox's failed
 * and pending entries and in the audit log's `delivered` records. The outbox is what holds a
 * callback; the log only says what became of it, and is not verified here.
 */
export async function findRedelivery(
  outbox: Outbox,
  auditPath: string,
  runId: string,
  session: string | undefined,
): Promise<RedeliveryTarget> {
  const wanted = (sessionId: string) => session === undefined || sessionId === session;
  const ofRun = <T extends OutboxEntry>(entries: T[]) =>
    entries.filter(
      (e) => e.callback.routing?.runId === runId && wanted(e.callback.routing.opencodeSessionId),
    );
  const failed = ofRun(await outbox.failed());
  const pending = ofRun((await outbox.pending()).entries);
  const delivered = [...(await deliveredInLog(auditPath, runId)).values()].filter((d) => wanted(d.sessionId));

  const sessions = new Set([
    ...failed.map((e) => e.callback.routing.opencodeSessionId),
    ...pending.map((e) => e.callback.routing.opencodeSessionId),
    ...delivered.map((d) => d.sessionId),
  ]);
  if (sessions.size > 1) return { state: "ambiguous", sessions: [...sessions].sort() };
  const [entry] = failed;
  if (entry !== undefined) {
    const said = delivered.find((d) => d.dedupeKey === entry.callback.dedupeKey);
    return { state: "failed", entry, delivered: said };
  }
  const [waiting] = pending;
  if (waiting !== undefined) return { state: "pending", entry: waiting };
  const [done] = delivered;
  return done === undefined ? { state: "none" } : { state: "delivered", delivered: done };
}
