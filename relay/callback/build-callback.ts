import type { AuditInput } from "../audit/index.ts";
import type { IntegrityVerdict } from "../integrity/index.ts";
import { cutText } from "./build-report.ts";
import type { Callback } from "./callback.ts";
import { idempotencyKey } from "./idempotency-key.ts";
import type { TerminalRun } from "./terminal-run.ts";

/** The fields that identify one callback in every audit record about it. */
export type CallbackIds = Omit<AuditInput, "phase">;

/**
 * The callback a terminal run and its integrity verdict make (DESIGN.md "Callback payload").
 * Routing comes from the pinned tags and the verdict only; absent tags are null, never omitted.
 * `durationMs` is `endedAt - startedAt` (never negative, should the clocks disagree). With
 * `summaryMaxChars`, the report keeps only that much of the summary, and its whole length
 * (RunReport.summaryLength): no report quotes more, and the callback is written to disk before its
 * first attempt (a long agentic reply is 100 KB and more).
 */
export function buildCallback(
  run: TerminalRun,
  verdict: Extract<IntegrityVerdict, { ok: true }>,
  acceptedAt: number,
  options: { summaryMaxChars?: number } = {},
): Callback {
  const { tags } = verdict;
  const max = options.summaryMaxChars;
  const summary = max === undefined ? run.summary : cutText(run.summary, max);
  const dedupeKey = `${run.sessionId}|${tags.runId}`;
  return {
    dedupeKey,
    idempotencyKey: idempotencyKey(dedupeKey),
    acceptedAt,
    routing: {
      runId: tags.runId,
      taskId: tags.taskId ?? null,
      requestedAgent: tags.requested ?? null,
      resolvedAgent: tags.resolved ?? null,
      actualAgent: verdict.actualAgent,
      fallbackUsed: verdict.fallbackUsed,
      callbackSession: tags.callbackSession,
      callbackSessionId: tags.callbackSessionId ?? null,
      opencodeSessionId: run.sessionId,
      projectId: tags.projectId ?? null,
      repoRoot: tags.repoRoot ?? null,
      outcome: run.outcome,
    },
    report: {
      titleText: verdict.parsed.text,
      error: run.error ?? null,
      summary,
      ...(summary.length === run.summary.length ? {} : { summaryLength: run.summary.length }),
      filesChanged: run.filesChanged,
      tokens: run.tokens ?? null,
      cost: run.cost ?? null,
      durationMs: Math.max(0, run.endedAt - run.startedAt),
      model: run.model ?? null,
      startedAt: run.startedAt,
      endedAt: run.endedAt,
    },
  };
}

/** sessionId, runId, taskId, dedupeKey, idempotencyKey and callbackSession of a callback. */
export function callbackIds(callback: Callback): CallbackIds {
  const { routing } = callback;
  return {
    sessionId: routing.opencodeSessionId,
    runId: routing.runId,
    ...(routing.taskId === null ? {} : { taskId: routing.taskId }),
    dedupeKey: callback.dedupeKey,
    idempotencyKey: callback.idempotencyKey,
    callbackSession: routing.callbackSession,
  };
}
