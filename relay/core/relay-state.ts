import type { AuditInput, AuditLog } from "../audit/index.ts";
import type { InstanceInfo } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import type { DeliveryLoop, semaphore } from "../delivery/index.ts";
import type { DedupeStore, Outbox } from "../state/index.ts";

/**
 * What one relay's concepts share (accepting runs, recovering the outbox, draining, closing):
 * built once by createRelay and passed to each, never captured by a closure that grows.
 */
export interface RelayState {
  readonly config: RelayConfig;
  readonly instance: InstanceInfo;
  readonly audit: AuditLog;
  readonly now: () => number;
  readonly dedupe: DedupeStore;
  readonly outbox: Outbox;
  readonly loop: DeliveryLoop;
  /** Dedupe keys this relay accepted or resumed, in front of the disk markers (bounded). */
  readonly claims: Set<string>;
  /** Pending entries already recorded as left to a holder that cannot be judged: said once per relay. */
  readonly heldReported: Set<string>;
  /** Runs being accepted at once (integrity, stage, claim). */
  readonly accepting: ReturnType<typeof semaphore>;
  /** The run is the relay's for good (claimed, deduped or refused): RelayOptions.onClaimed. Never throws. */
  taken(dedupeKey: string): void;
  /** Appends an audit record without waiting for the disk; never rejects. */
  record(input: AuditInput): Promise<void>;
  /**
   * The audit head as Relay.prepare() (or the first run accepted without it) read it from disk
   * (`head` undefined: the log had none), for a run accepted before this process wrote any record:
   * maybe older than the current head, but a record the log holds.
   */
  preparedAnchor?: { head: string | undefined };
  /** The audit head's read from disk for `preparedAnchor`, shared by the runs accepted meanwhile (accept-run.ts). */
  anchorRead?: Promise<string | undefined>;
}

/** Dedupe keys remembered in memory (in front of the disk markers) before the oldest are forgotten. */
const MEMORY_CLAIMS = 10_000;

/** Remember a key this relay owns, forgetting the oldest past MEMORY_CLAIMS. */
export function rememberClaim(state: RelayState, key: string): void {
  state.claims.add(key);
  if (state.claims.size > MEMORY_CLAIMS) state.claims.delete(state.claims.values().next().value as string);
}
