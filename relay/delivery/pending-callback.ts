import type { OutboxEntry, OutboxLease } from "../state/index.ts";

/** One accepted callback a relay owns until it is delivered or fails for good. */
export interface PendingCallback {
  entry: OutboxEntry;
  /** Our lease on the outbox entry; null when none could be taken (or none is needed). */
  lease: OutboxLease | null;
  /**
   * Whether the run's claim and callback are on disk (staged and claimed at accept). false when
   * the state dir refused them (STATE_UNWRITABLE): the callback lives in memory and its run is
   * claimed only once delivered. A later failed outbox write leaves this true: the entry on disk
   * is then stale (an older attempt count), but still the one to forget once delivered.
   */
  durable: boolean;
  /**
   * The staged file holding the claim, until it is promoted to the outbox entry: a delivery or a
   * final failure before the promote removes it, or a restart would find it and send it again.
   */
  stagedPath?: string;
  /** Cancels the scheduled next attempt. */
  cancel?: () => void;
  /**
   * Lease the callback and promote its staged file to the outbox entry, once (later calls return
   * the first call's promise); set for a callback accepted here. The first attempt goes out from
   * the staged file and its claim alone: a callback delivered by it is never promoted (it gets a
   * `.delivered` link to its batch instead, forget-delivered.ts). It is promoted when the attempt
   * does not deliver it, when the attempt has been in flight for PROMOTE_AFTER_MS (another
   * process's recovery takes a staged batch older than HALF_WRITTEN_MS), and when the relay closes
   * with it unsent. Never rejects.
   */
  promote?: () => Promise<void>;
  /** Cancels the PROMOTE_AFTER_MS timer. */
  cancelPromote?: () => void;
  /**
   * Settles once the entry's lease is taken and its staged file promoted to the outbox; set once
   * `promote` was called. Every outbox write after an attempt waits for it, so a slow promote can
   * never resurrect an entry that was delivered meanwhile. Never rejects.
   */
  ready?: Promise<void>;
}
