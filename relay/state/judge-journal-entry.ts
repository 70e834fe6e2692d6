import type { Liveness } from "./process-owner.ts";

/**
 * What start-up reconciliation does with one journalled run:
 * - `claimed`: the relay already took it (a dedupe marker exists): retire the entry;
 * - `owner-alive`: the process running the turn still lives (a second OpenCode on the same data):
 *   leave it, that owner calls back itself;
 * - `orphan`: nobody will call back for it: settle it from OpenCode's stored messages and submit.
 */
export type JournalVerdict = "claimed" | "owner-alive" | "orphan";

export interface JournalEntryFacts {
  /** A dedupe marker exists for the run's key. */
  claimed: boolean;
  /** `ownerLiveness(entry.owner)`. */
  liveness: Liveness;
  /** When the owner last renewed its owner file (epoch ms), null when it has none. */
  renewedAt: number | null;
  now: number;
  /** Past this renewal age an owner of unknown liveness counts as dead. */
  staleMs: number;
}

/** Decide one entry. Unknown liveness (another host) is judged by the owner's renewal age. */
export function judgeJournalEntry(facts: JournalEntryFacts): JournalVerdict {
  if (facts.claimed) return "claimed";
  if (facts.liveness === "alive") return "owner-alive";
  if (facts.liveness === "dead") return "orphan";
  const fresh = facts.renewedAt !== null && facts.now - facts.renewedAt < facts.staleMs;
  return fresh ? "owner-alive" : "orphan";
}
