import { openDedupeStore } from "./dedupe-store.ts";
import { judgeJournalEntry } from "./judge-journal-entry.ts";
import { OWNER_STALE_MS, ownerRenewedAt } from "./owner-heartbeat.ts";
import { ownerLiveness } from "./process-owner.ts";
import { type JournalEntry, openRunJournal } from "./run-journal.ts";

export interface JournalScan {
  /** Runs nobody will call back for: to settle from stored messages and submit once. */
  orphans: JournalEntry[];
  /** Runs whose owner still lives: left for it. */
  ownerAlive: JournalEntry[];
  /** Entries already claimed by the relay, retired by this scan. */
  retired: JournalEntry[];
  /** Files that are not whole entries (torn writes, foreign files): skipped. */
  unreadable: string[];
}

export interface FindJournalOrphansOptions {
  /** Only entries journalled by a plugin instance serving this directory. */
  directory?: string;
  /** @default Date.now */
  now?: () => number;
  /** Renewal age past which an owner of unknown liveness counts as dead, ms. @default OWNER_STALE_MS */
  staleMs?: number;
}

/**
 * The start-up scan of `<stateDir>/journal`: which journalled runs are orphans (no claim, owner not
 * alive), which are still someone's, and which were claimed (their entries are retired here, which
 * also cleans up after a process that stopped between claiming and retiring).
 */
export async function findJournalOrphans(
  stateDir: string,
  options: FindJournalOrphansOptions = {},
): Promise<JournalScan> {
  const now = options.now ?? Date.now;
  const journal = openRunJournal(stateDir);
  const dedupe = openDedupeStore(stateDir);
  const { entries, unreadable } = await journal.list();
  const scan: JournalScan = { orphans: [], ownerAlive: [], retired: [], unreadable };
  for (const entry of entries) {
    if (options.directory !== undefined && entry.directory !== options.directory) continue;
    const verdict = judgeJournalEntry({
      claimed: await dedupe.isClaimed(entry.dedupeKey),
      liveness: ownerLiveness(entry.owner),
      renewedAt: await ownerRenewedAt(stateDir, entry.owner),
      now: now(),
      staleMs: options.staleMs ?? OWNER_STALE_MS,
    });
    if (verdict === "claimed") {
      await journal.retire(entry.dedupeKey).catch(() => undefined);
      scan.retired.push(entry);
    } else if (verdict === "owner-alive") {
      scan.ownerAlive.push(entry);
    } else {
      scan.orphans.push(entry);
    }
  }
  return scan;
}
