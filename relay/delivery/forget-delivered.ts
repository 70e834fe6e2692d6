import type { AuditInput } from "../audit/index.ts";
import { callbackIds } from "../callback/index.ts";
import { ERROR_CODES, toRelayError } from "../errors/index.ts";
import type { DedupeStore, Outbox } from "../state/index.ts";
import type { PendingCallback } from "./pending-callback.ts";

/**
 * Make "delivered" durable for a callback that just got a 2xx, so no restart sends it again
 * (issue 9 item 4): the outbox entry and any staged copy are unlinked whatever happened to earlier
 * writes (unlinking needs no free space); a callback delivered straight from its staged batch,
 * never promoted, gets a line in the batch's delivered record instead, or, when the disk refuses
 * that line, a `.delivered` link beside its marker (a new name, no data block), either of which
 * goes with the batch's staged name; and a run that was never claimed on disk (accepted with
 * the state dir unwritable) is claimed now with an empty marker (an inode and a name, no data
 * block). What cannot be done is a `state_error` STATE_DELIVERED_UNMARKED: this callback may be sent
 * again after a restart. Then the lease goes. Never rejects (`record` never does).
 */
export async function forgetDelivered(
  item: PendingCallback,
  stores: { outbox: Outbox; dedupe: DedupeStore; record(input: AuditInput): Promise<void> },
): Promise<void> {
  const { outbox, dedupe, record } = stores;
  const key = item.entry.callback.dedupeKey;
  const unmarked: unknown[] = [];
  let deliveredMark: string | undefined;
  if (item.ready === undefined && item.stagedPath !== undefined) {
    // Delivered straight from its staged batch, never promoted: no pending name, no lease. Its
    // claim still links the batch, which recovery would promote and send again: say it is done,
    // for as long as the batch's staged name is there. In the batch's record; when that cannot
    // take a line (a full disk: it needs a data block), with a link beside the marker (a name).
    try {
      outbox.markDelivered(item.stagedPath, key);
    } catch (error) {
      try {
        deliveredMark = dedupe.markStagedDelivered(key, item.stagedPath);
      } catch {
        unmarked.push(error);
      }
    }
  } else {
    await outbox.remove(key).catch((error: unknown) => unmarked.push(error));
  }
  if (item.stagedPath !== undefined) {
    await outbox.discard(item.stagedPath, deliveredMark);
    delete item.stagedPath;
  }
  if (!item.durable) await dedupe.markDelivered(key).catch((error: unknown) => unmarked.push(error));
  await item.lease?.release().catch(() => undefined);
  if (unmarked.length === 0) return;
  const err = toRelayError(unmarked[0]);
  await record({
    ...callbackIds(item.entry.callback),
    phase: "state_error",
    code: "STATE_DELIVERED_UNMARKED",
    reason: `delivered, but the state dir could not record it (${err.message}): a restart may send it again`,
    hint: ERROR_CODES.STATE_DELIVERED_UNMARKED.hint,
  });
}
