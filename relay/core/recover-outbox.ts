import { callbackIds } from "../callback/index.ts";
import { ERROR_CODES } from "../errors/index.ts";
import { DEDUPE_RETENTION_MS, LEASE_STALE_MS, type OutboxEntry, type OutboxLease } from "../state/index.ts";
import { type RelayState, rememberClaim } from "./relay-state.ts";

/**
 * Resume what a crash or restart left in the outbox (`Relay.recover()`): prune old markers and
 * failed entries, promote staged callbacks that hold their claim, then lease every pending entry
 * no live relay is delivering, look at it again, and hand it to the delivery loop (`recovered`).
 * Idempotent: an entry this relay (or another live one) already owns is left alone.
 */
export async function recoverOutbox(state: RelayState): Promise<void> {
  const { dedupe, outbox } = state;
  // Compaction: old markers and old failed entries go; a run that old will not be seen again.
  await dedupe.prune(DEDUPE_RETENTION_MS).catch(() => 0);
  await outbox.pruneFailed(DEDUPE_RETENTION_MS).catch(() => 0);
  await promoteStaged(state);
  // A crash between removing a batch's staged name and its `.delivered` links leaves links that
  // guard nothing (the batch cannot be found any more): they go, not 30 days later with prune.
  // (Such a batch's delivered record goes in outbox.staged(), which promoteStaged asked.)
  await dedupe.dropOrphanDeliveredMarks(() => outbox.stagedFileIds()).catch(() => 0);
  // What a crash left beside the entries (temp files, orphan leases), then the entries themselves.
  await outbox.compact();
  await resumePending(state);
}

/**
 * A running relay's look at the outbox, every OUTBOX_RESCAN_MS after recover(): what a process
 * that died meanwhile left (another OpenCode on the same state dir), without waiting for a
 * restart. Its staged batches (a first attempt in flight when it died) and its pending entries.
 */
export async function rescanOutbox(state: RelayState): Promise<void> {
  await promoteStaged(state, { writerGone: true });
  await resumePending(state);
}

/**
 * A staged batch left by a crash: promote (link) every callback in it that holds its claim and
 * was not delivered from it, then remove the batch's staged name; resumePending then leases and
 * resumes them. Promoting is idempotent, and a delivered callback is either marked delivered from
 * the batch (its record, or a `.delivered` link) or was promoted before, which removes the staged
 * name first (outbox-stager.ts): this cannot resurrect one. Claims that lost are left to their
 * winners. A batch whose record cannot be read now is left for the next look.
 */
async function promoteStaged(state: RelayState, only?: { writerGone: boolean }): Promise<void> {
  const { dedupe, outbox } = state;
  const batches = new Map<string, string[]>();
  for (const { path, entry } of await outbox.staged(only)) {
    const keys = batches.get(path) ?? [];
    keys.push(entry.callback.dedupeKey);
    batches.set(path, keys);
  }
  for (const [path, keys] of batches) {
    const recorded = await outbox.deliveredFrom(path).catch(() => undefined);
    if (recorded === undefined) continue;
    let promotedAll = true;
    const linked: string[] = [];
    for (const key of keys) {
      if (!(await dedupe.isClaimOf(key, path))) continue; // claimed by another batch
      // Delivered from this one before the crash: not to be sent again.
      if (recorded(key)) continue;
      if (await dedupe.deliveredFrom(key, path)) {
        linked.push(key);
        continue;
      }
      await outbox.promote(path, key).catch(() => {
        promotedAll = false; // the staged file stays: the next recovery tries again
      });
    }
    if (!promotedAll) continue;
    // The batch, then its record (retireStaged); its links only once it is gone: until then they
    // keep its delivered callbacks from being resent.
    await outbox.retireStaged(path);
    for (const key of linked) await dedupe.removeDeliveredMark(key);
  }
}

export { OUTBOX_RESCAN_MS } from "../state/index.ts";

/**
 * Lease and resume every pending entry no live holder delivers: at start-up (from recoverOutbox)
 * and every OUTBOX_RESCAN_MS after, so a holder that dies while this relay runs (another server
 * SIGKILLed mid-retry) is taken over without waiting for a restart. Unreadable files are set aside
 * with a record; an entry left to a holder that cannot be judged is recorded once per relay.
 */
export async function resumePending(state: RelayState): Promise<void> {
  const { outbox, loop, record } = state;
  const { entries, unreadable } = await outbox.pending();
  for (const file of unreadable) {
    await outbox.setAside(file);
    await record({ phase: "failed", code: "INTERNAL", reason: `unreadable outbox entry ${file}`, file });
  }
  for (const entry of entries) {
    const key = entry.callback?.dedupeKey;
    if (typeof key !== "string" || loop.has(key)) continue;
    const lease = await outbox.lease(key);
    if (lease === null) {
      // A live relay (here or in another process) is delivering it, or a holder it cannot judge.
      await recordHeld(state, entry);
      continue;
    }
    state.heldReported.delete(key);
    // Lease, then look again: the listing may predate a delivery that removed the entry and
    // released its lease (delivery removes the entry before releasing), here or elsewhere.
    const current = await outbox.read(key);
    if (current === null) {
      await lease.release().catch(() => undefined);
      continue;
    }
    await resume(state, current, lease);
  }
}

/**
 * Say why a pending entry is left alone when its holder cannot be judged from here: of unknown
 * liveness but renewing (another host), or alive but no longer renewing. A live, renewing holder is
 * the ordinary case (another relay delivering it) and says nothing.
 */
async function recordHeld(state: RelayState, entry: OutboxEntry): Promise<void> {
  const view = await state.outbox.leaseHolder(entry.callback.dedupeKey);
  const renewedAgoMs = view.renewedAt === undefined ? undefined : Math.round(state.now() - view.renewedAt);
  const stale = renewedAgoMs !== undefined && renewedAgoMs > LEASE_STALE_MS;
  if (view.state !== "renewing" && !(view.state === "alive" && stale)) return;
  if (state.heldReported.has(entry.callback.dedupeKey)) return;
  state.heldReported.add(entry.callback.dedupeKey);
  await state.record({
    ...callbackIds(entry.callback),
    phase: "state_error",
    code: "STATE_LEASE_HELD",
    reason: `left to the holder of its lease (${view.state}, renewed ${renewedAgoMs} ms ago)`,
    hint: ERROR_CODES.STATE_LEASE_HELD.hint,
    holder: view.owner === undefined ? null : { host: view.owner.host, pid: view.owner.pid },
    renewedAgoMs,
  });
}

async function resume(state: RelayState, entry: OutboxEntry, lease: OutboxLease): Promise<void> {
  rememberClaim(state, entry.callback.dedupeKey);
  await state.record({
    ...callbackIds(entry.callback),
    phase: "recovered",
    attempts: entry.attempts,
    dueAt: new Date(entry.dueAt).toISOString(),
  });
  state.loop.start({ entry, lease, durable: true });
}
