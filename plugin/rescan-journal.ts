import { type Schedule, unrefTimeout } from "../relay/index.ts";
import type { ReconcileReport } from "./reconcile-journal.ts";

/** How often a running plugin looks at the run journal again, ms. */
export const JOURNAL_RESCAN_MS = 30_000; // 30 s, as the outbox's rescan (OUTBOX_RESCAN_MS)

export interface RescanJournalOptions {
  /** One reconciliation of the journal (reconcileJournal with this instance's options). */
  reconcile(): Promise<ReconcileReport>;
  /** What a rescan that did something reports (runs taken over, runs too old). */
  onReport(report: ReconcileReport): void;
  /** @default JOURNAL_RESCAN_MS */
  intervalMs?: number;
  /** @default unrefTimeout, so the rescan never keeps OpenCode alive */
  schedule?: Schedule;
}

/**
 * Reconcile the run journal again every `intervalMs` while the plugin runs: a run left at start-up
 * to its live owner (another OpenCode process on the same data) is taken over once that owner dies,
 * without waiting for this process to restart. The next rescan is armed once the previous one is
 * done, so two never overlap. Returns a function that stops it.
 */
export function rescanJournal(options: RescanJournalOptions): () => void {
  const schedule = options.schedule ?? unrefTimeout;
  let stopped = false;
  let cancel: (() => void) | undefined;
  const arm = () => {
    if (stopped) return;
    cancel = schedule(() => {
      options
        .reconcile()
        .then((report) => {
          if (report.submitted.length + report.expired.length > 0) options.onReport(report);
        })
        .catch((error: unknown) =>
          console.error(`opencode-callback-relay: run journal rescan failed: ${String(error)}`),
        )
        .finally(arm);
    }, options.intervalMs ?? JOURNAL_RESCAN_MS);
  };
  arm();
  return () => {
    stopped = true;
    cancel?.();
  };
}
