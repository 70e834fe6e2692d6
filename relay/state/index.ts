export { DEDUPE_RETENTION_MS, type DedupeStore, openDedupeStore } from "./dedupe-store.ts";
export { isMissing } from "./fs-errors.ts";
export {
  NUDGE_MAX_AGE_MS,
  NUDGE_POLL_MS,
  type Nudge,
  nudgeWaiting,
  readNudges,
  removeNudge,
  writeNudge,
} from "./nudge-file.ts";
export { type Outbox, type OutboxLease, openOutbox } from "./outbox.ts";
export type { FailedOutboxEntry, OutboxEntry } from "./outbox-entry.ts";
export {
  currentOwner,
  isOwner,
  type Liveness,
  ownerLiveness,
  type ProcessOwner,
  pidExists,
} from "./process-owner.ts";
export { readClaimedEntry } from "./read-claimed-entry.ts";
export { type LeaseHolder, readLeaseHolder } from "./read-lease-holder.ts";
