export { DEDUPE_RETENTION_MS, openDedupeStore } from "./dedupe-store.ts";
export {
  type FailedOutboxEntry,
  type Outbox,
  type OutboxEntry,
  type OutboxLease,
  openOutbox,
} from "./outbox.ts";
export {
  currentOwner,
  isOwner,
  type Liveness,
  ownerLiveness,
  type ProcessOwner,
  pidExists,
} from "./process-owner.ts";
