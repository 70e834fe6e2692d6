export { DEDUPE_RETENTION_MS, type DedupeStore, openDedupeStore } from "./dedupe-store.ts";
export {
  type FindJournalOrphansOptions,
  findJournalOrphans,
  type JournalScan,
} from "./find-journal-orphans.ts";
export { isMissing } from "./fs-errors.ts";
export { type JournalEntryFacts, type JournalVerdict, judgeJournalEntry } from "./judge-journal-entry.ts";
export { LEASE_RENEW_MS, LEASE_STALE_MS, OUTBOX_RESCAN_MS } from "./judge-lease.ts";
export {
  NUDGE_MAX_AGE_MS,
  NUDGE_POLL_MS,
  type Nudge,
  nudgeWaiting,
  readNudges,
  removeNudge,
  writeNudge,
} from "./nudge-file.ts";
export { type NoFollowMode, openNoFollow, readFileNoFollow, symlinkRefused } from "./open-no-follow.ts";
export { type LeaseView, type Outbox, type OutboxLease, type OutboxOptions, openOutbox } from "./outbox.ts";
export type { FailedOutboxEntry, OutboxEntry } from "./outbox-entry.ts";
export type { StagedWriter } from "./outbox-stager.ts";
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
export { readClaimedEntry } from "./read-claimed-entry.ts";
export { type LeaseHolder, readLeaseHolder } from "./read-lease-holder.ts";
export {
  isJournalEntry,
  type JournalEntry,
  type JournalListing,
  openRunJournal,
  type RunJournal,
} from "./run-journal.ts";
export { type Schedule, unrefTimeout } from "./unref-timeout.ts";
