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
   * Settles once the entry's lease is taken and its staged file promoted to the outbox. The first
   * attempt does not wait for it (the staged file and the claim already hold the callback on
   * disk); every outbox write after an attempt does, so a slow promote can never resurrect an
   * entry that was delivered meanwhile. Never rejects.
   */
  ready?: Promise<void>;
}
