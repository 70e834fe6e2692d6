export { DEDUPE_RETENTION_MS, type DedupeStore, openDedupeStore } from "./dedupe-store.ts";
export { isMissing } from "./fs-errors.ts";
export { LEASE_RENEW_MS, LEASE_STALE_MS } from "./judge-lease.ts";
export { type LeaseView, type Outbox, type OutboxLease, type OutboxOptions, openOutbox } from "./outbox.ts";
export type { FailedOutboxEntry, OutboxEntry } from "./outbox-entry.ts";
export {
  currentOwner,
  isOwner,
  type Liveness,
  ownerLiveness,
  type ProcessOwner,
  pidExists,
} from "./process-owner.ts";
