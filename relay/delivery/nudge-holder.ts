import type { ErrorCode } from "../errors/index.ts";
import { nudgeWaiting, type Outbox, type OutboxEntry, removeNudge, writeNudge } from "../state/index.ts";

/** What became of a nudge to the live relay holding a pending callback. */
export type NudgeOutcome =
  /** The holder did not take the nudge in time (an older version, or stuck): the nudge is removed. */
  | { honoured: false }
  /** Taken; its attempt has not ended within the wait. */
  | { honoured: true; outcome: "in-flight" }
  | { honoured: true; outcome: "delivered" }
  | { honoured: true; outcome: "failed"; code: ErrorCode }
  /** Attempted and failed retryably: the holder retries it at `dueAt`. */
  | { honoured: true; outcome: "pending"; code: ErrorCode | undefined; dueAt: number };

export interface NudgeHolderOptions {
  /** How long the holder has to take the nudge, ms. */
  honourMs: number;
  /** How long its attempt may take once taken, ms. */
  attemptMs: number;
  /** How often to look, ms. @default 100 */
  pollMs?: number;
}

/**
 * Ask the live relay that holds `entry`'s lease to attempt it now (state/nudge-file.ts), and wait
 * for what its attempt did, read from the outbox: the entry gone (delivered) or in `failed/`, or
 * rewritten with more attempts (pending, retried later). The lease never changes hands, so the
 * callback is never sent by two processes at once. Wall-clock waits: this runs in the CLI.
 */
export async function nudgeHolder(
  outbox: Outbox,
  entry: OutboxEntry,
  options: NudgeHolderOptions,
): Promise<NudgeOutcome> {
  const key = entry.callback.dedupeKey;
  const pollMs = options.pollMs ?? 100;
  const path = await writeNudge(outbox.dir, key);
  const honourBy = Date.now() + options.honourMs;
  while (await nudgeWaiting(path)) {
    if (Date.now() > honourBy) {
      await removeNudge(path);
      // Taken at the last moment after all? Then it is the holder's now; say so below.
      if (!(await wasTaken(outbox, entry))) return { honoured: false };
      break;
    }
    await sleep(pollMs);
  }
  const doneBy = Date.now() + options.attemptMs;
  for (;;) {
    const current = await outbox.read(key);
    if (current === null) {
      const failed = (await outbox.failed()).find((f) => f.callback.dedupeKey === key);
      return failed === undefined
        ? { honoured: true, outcome: "delivered" }
        : { honoured: true, outcome: "failed", code: failed.code };
    }
    if (current.attempts > entry.attempts)
      return { honoured: true, outcome: "pending", code: current.lastCode, dueAt: current.dueAt };
    if (Date.now() > doneBy) return { honoured: true, outcome: "in-flight" };
    await sleep(pollMs);
  }
}

/** Whether the entry moved on since it was read (the holder attempted it). */
async function wasTaken(outbox: Outbox, entry: OutboxEntry): Promise<boolean> {
  const current = await outbox.read(entry.callback.dedupeKey);
  return current === null || current.attempts > entry.attempts;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
