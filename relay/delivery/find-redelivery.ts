import type { DedupeStore, FailedOutboxEntry, Outbox, OutboxEntry, StagedWriter } from "../state/index.ts";
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
  /**
   * Staged and claimed, not yet in the outbox: its first attempt is in flight (it is promoted
   * within PROMOTE_AFTER_MS unless delivered), or its writer crashed and recovery will send it.
   */
  | { state: "staged"; entry: OutboxEntry; writer: StagedWriter }
  /** Not in the outbox; the (unverified) log records it delivered. */
  | { state: "delivered"; delivered: DeliveredInLog };

/**
 * Find the callback of `runId` (of OpenCode session `session`, when given) in the outbox's failed
 * and pending entries, in the staged batches that hold their claim (not delivered from there), and
 * in the audit log's `delivered` records. The outbox is what holds a callback; the log only says
 * what became of it, and is not verified here.
 */
export async function findRedelivery(
  outbox: Outbox,
  dedupe: DedupeStore,
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
  const staged: Array<{ entry: OutboxEntry; writer: StagedWriter }> = [];
  const records = new Map<string, Promise<(dedupeKey: string) => boolean>>();
  for (const { path, entry, writer } of await outbox.inStaged()) {
    if (ofRun([entry]).length === 0) continue;
    const key = entry.callback.dedupeKey;
    // A claim that lost (another batch holds the key), or one delivered straight from here, is
    // not a callback still to come. A record that cannot be read says nothing either way: the
    // callback counts as still to come, which refuses a redelivery rather than risk a second send.
    let record = records.get(path);
    if (record === undefined) {
      record = outbox.deliveredFrom(path).catch(() => () => false);
      records.set(path, record);
    }
    const recorded = await record;
    if ((await dedupe.isClaimOf(key, path)) && !recorded(key) && !(await dedupe.deliveredFrom(key, path)))
      staged.push({ entry, writer });
  }
  const delivered = [...(await deliveredInLog(auditPath, runId)).values()].filter((d) => wanted(d.sessionId));

  const sessions = new Set([
    ...failed.map((e) => e.callback.routing.opencodeSessionId),
    ...pending.map((e) => e.callback.routing.opencodeSessionId),
    ...staged.map((s) => s.entry.callback.routing.opencodeSessionId),
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
  const [inFlight] = staged;
  if (inFlight !== undefined) return { state: "staged", ...inFlight };
  const [done] = delivered;
  return done === undefined ? { state: "none" } : { state: "delivered", delivered: done };
}
