import type { AuditLog, JournalEntry, Relay } from "../relay/index.ts";
import { findJournalOrphans, openRunJournal, RelayError, toRelayError } from "../relay/index.ts";
import type { SessionReader } from "./create-event-hook.ts";
import { readTurnStartedAt } from "./read-last-turn.ts";
import { settleJournalled } from "./settle-journalled.ts";

export interface ReconcileJournalOptions {
  /** Journals to reconcile: the configured state dir first, then the default one (held runs). */
  stateDirs: string[];
  /** This plugin instance's directory: only runs journalled for it are read through its client. */
  directory: string;
  worktree: string;
  reader: Pick<SessionReader, "title" | "messages">;
  relay: Pick<Relay, "submit">;
  audit: Pick<AuditLog, "append">;
  /** Runs that began longer ago are not sent: a `failed` record with `DELIVERY_EXPIRED`. */
  maxAgeMs: number;
  /** @default Date.now */
  now?: () => number;
  /** Renewal age past which an owner of unknown liveness counts as dead, ms. @default OWNER_STALE_MS */
  staleMs?: number;
  /**
   * Runs an earlier reconciliation of this process submitted (their claim may still be on its
   * way): not submitted again, and added to as runs are submitted. @default a fresh set
   */
  submittedBefore?: Set<string>;
  /**
   * Runs whose stored messages an earlier reconciliation of this process could not read, already
   * recorded (SETTLE_FETCH_FAILED): tried again, recorded again only once read. @default a fresh set
   */
  failedBefore?: Set<string>;
}

/** What one reconciliation did (for tests and the log line). */
export interface ReconcileReport {
  submitted: JournalEntry[];
  expired: JournalEntry[];
  ownerAlive: JournalEntry[];
  unreadable: string[];
}

/**
 * Start-up reconciliation (DESIGN.md "Durable from first sight"): every journalled run with no
 * claim whose owner is not alive is settled from OpenCode's stored messages and submitted once
 * (the relay's dedupe makes a second submit, here or in another process, a `deduped` record).
 * Runs whose owner lives are left to it; runs never journalled are not looked at.
 */
export async function reconcileJournal(options: ReconcileJournalOptions): Promise<ReconcileReport> {
  const now = options.now ?? Date.now;
  const report: ReconcileReport = { submitted: [], expired: [], ownerAlive: [], unreadable: [] };
  const seen = new Set<string>();
  const submittedBefore = options.submittedBefore ?? new Set<string>();
  const failedBefore = options.failedBefore ?? new Set<string>();
  for (const stateDir of [...new Set(options.stateDirs)]) {
    const journal = openRunJournal(stateDir);
    const scan = await findJournalOrphans(stateDir, {
      directory: options.directory,
      now,
      ...(options.staleMs === undefined ? {} : { staleMs: options.staleMs }),
    });
    report.ownerAlive.push(...scan.ownerAlive);
    for (const file of scan.unreadable) {
      report.unreadable.push(file);
      const error = new RelayError("JOURNAL_ENTRY_UNREADABLE", `${file} is not a whole run journal entry`);
      await options.audit.append({
        phase: "state_error",
        code: error.code,
        reason: error.message,
        hint: error.hint,
        file,
      });
      await journal.setAside(file);
    }
    for (const entry of scan.orphans) {
      if (seen.has(entry.dedupeKey) || submittedBefore.has(entry.dedupeKey)) continue;
      seen.add(entry.dedupeKey);
      const ids = { sessionId: entry.sessionId, runId: entry.runId, dedupeKey: entry.dedupeKey };
      let messages: Awaited<ReturnType<SessionReader["messages"]>>;
      try {
        // Only as far back as the run's turn: flat in the session's length.
        messages = await readTurnStartedAt(options.reader, entry.sessionId, entry.startedAt);
      } catch (error) {
        const err = toRelayError(error);
        // The entry stays: the next start (or rescan) tries again, without a record each time.
        if (failedBefore.has(entry.dedupeKey)) continue;
        failedBefore.add(entry.dedupeKey);
        await options.audit.append({
          ...ids,
          phase: "state_error",
          code: "SETTLE_FETCH_FAILED",
          reason: err.message,
          hint: new RelayError("SETTLE_FETCH_FAILED", "").hint,
        });
        continue;
      }
      failedBefore.delete(entry.dedupeKey);
      const title = await options.reader.title(entry.sessionId).catch(() => entry.pinnedTitle);
      const run = settleJournalled(entry, messages, title, options.worktree, now());
      const facts = {
        ...ids,
        outcome: run.outcome,
        owner: entry.owner,
        journalledAt: new Date(entry.journalledAt).toISOString(),
        ...(entry.heldCode === undefined ? {} : { heldCode: entry.heldCode }),
      };
      if (now() - entry.startedAt > options.maxAgeMs) {
        const error = new RelayError(
          "DELIVERY_EXPIRED",
          `the run began ${new Date(entry.startedAt).toISOString()}, longer ago than delivery.maxAgeMs (${options.maxAgeMs} ms): not sent`,
        );
        await options.audit.append({
          ...facts,
          phase: "failed",
          code: error.code,
          reason: error.message,
          hint: error.hint,
        });
        for (const dir of options.stateDirs)
          await openRunJournal(dir)
            .retire(entry.dedupeKey)
            .catch(() => undefined);
        report.expired.push(entry);
        continue;
      }
      await options.audit.append({
        ...facts,
        phase: "reconciled",
        reason:
          "journalled, not claimed, and its owner is not alive: settled from OpenCode's stored messages",
      });
      options.relay.submit(run);
      submittedBefore.add(entry.dedupeKey);
      report.submitted.push(entry);
    }
  }
  return report;
}
