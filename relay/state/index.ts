export { DEDUPE_RETENTION_MS, type DedupeStore, openDedupeStore } from "./dedupe-store.ts";
export {
  type FindJournalOrphansOptions,
  findJournalOrphans,
  type JournalScan,
} from "./find-journal-orphans.ts";
export { isMissing } from "./fs-errors.ts";
export { type JournalEntryFacts, type JournalVerdict, judgeJournalEntry } from "./judge-journal-entry.ts";
export { type NoFollowMode, openNoFollow, readFileNoFollow, symlinkRefused } from "./open-no-follow.ts";
export { type Outbox, type OutboxLease, openOutbox } from "./outbox.ts";
export type { FailedOutboxEntry, OutboxEntry } from "./outbox-entry.ts";
export {
  OWNER_RENEW_INTERVAL_MS,
  OWNER_STALE_MS,
  ownerFilePath,
  ownerRenewedAt,
  renewOwner,
} from "./owner-heartbeat.ts";
export { ensurePrivateDir, type PrivateDirState } from "./private-dir.ts";
export {
  currentOwner,
  isOwner,
  type Liveness,
  ownerLiveness,
  type ProcessOwner,
  pidExists,
} from "./process-owner.ts";
export {
  isJournalEntry,
  type JournalEntry,
  type JournalListing,
  openRunJournal,
  type RunJournal,
} from "./run-journal.ts";
