import type { Outcome, TokenUsage } from "./terminal-run.ts";

/**
 * The routing fields every payload carries, whatever the target kind (DESIGN.md "Callback payload").
 * Absent tags are `null`, never omitted, so a receiver can rely on the keys.
 */
export interface RoutingFields {
  runId: string;
  taskId: string | null;
  requestedAgent: string | null;
  resolvedAgent: string | null;
  /** The agent that actually ran, from the session's last assistant message. */
  actualAgent: string | null;
  fallbackUsed: boolean;
  callbackSession: string;
  callbackSessionId: string | null;
  opencodeSessionId: string;
  projectId: string | null;
  repoRoot: string | null;
  outcome: Outcome;
}

/** The readable part of a callback: what the run did. */
export interface RunReport {
  /** Free words of the title (tags removed). */
  titleText: string;
  error: { name: string; message: string } | null;
  /** The last assistant message's text, or its start (see `summaryLength`). */
  summary: string;
  /**
   * The whole summary's length in characters (UTF-16 code units) when `summary` holds only its
   * start: a callback keeps what a report can quote (`summaryMaxChars` when it was accepted), not a
   * long reply it would write to disk and never send. Absent: `summary` is whole.
   */
  summaryLength?: number;
  filesChanged: string[];
  tokens: TokenUsage | null;
  cost: number | null;
  durationMs: number;
  model: string | null;
  startedAt: number;
  endedAt: number;
}

/**
 * One accepted callback: what the outbox persists before the first attempt. It holds no
 * secrets: auth headers and signatures are computed from configuration at each attempt.
 */
export interface Callback {
  /** `sessionId|runId`. */
  dedupeKey: string;
  /** Stable across retries, restarts and redeliveries; ≤ 256 chars. */
  idempotencyKey: string;
  /** Epoch ms when the callback was accepted (for delivery.maxAgeMs). */
  acceptedAt: number;
  routing: RoutingFields;
  report: RunReport;
  /**
   * The audit log's head when the callback was accepted, `SEQ:HASH` (relay/audit: `AuditLog.anchor`):
   * carried in the report's machine-readable block, so the receiver's transcript holds anchors that
   * `audit verify --anchor` checks the log against. Absent when the log had no record yet.
   */
  auditAnchor?: string;
}

/** The whole summary's length, whether the report holds all of it or only its start. */
export function fullSummaryLength(report: Pick<RunReport, "summary" | "summaryLength">): number {
  return report.summaryLength ?? report.summary.length;
}
