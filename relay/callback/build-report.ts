import { type Callback, fullSummaryLength, type RoutingFields, type RunReport } from "./callback.ts";

/** Every routing field, in the order the machine-readable block lists them. */
export const ROUTING_FIELD_NAMES = [
  "runId",
  "taskId",
  "requestedAgent",
  "resolvedAgent",
  "actualAgent",
  "fallbackUsed",
  "callbackSession",
  "callbackSessionId",
  "opencodeSessionId",
  "projectId",
  "repoRoot",
  "outcome",
] as const satisfies readonly (keyof RoutingFields)[];

// Compile-time guard: a field added to RoutingFields but not listed above fails the build here.
type MissingRoutingField = Exclude<keyof RoutingFields, (typeof ROUTING_FIELD_NAMES)[number]>;
const everyRoutingFieldListed: [MissingRoutingField] extends [never] ? true : never = true;
void everyRoutingFieldListed;

/** The line that introduces the machine-readable block; receivers search for it. */
export const REPORT_BLOCK_MARKER = "opencode-callback-relay routing:";

/** Caps on the parts of a report that are not the summary; cutting any of them sets `truncated`. */
const MAX_TITLE_CHARS = 500;
const MAX_ERROR_CHARS = 2_000;
const MAX_MODEL_CHARS = 200;
const MAX_PATH_CHARS = 500;

export interface ReportOptions {
  /** Characters (UTF-16 code units) of the last assistant message quoted. */
  summaryMaxChars: number;
  /** Changed files listed by name; the rest are counted. @default 50 */
  maxFiles?: number;
}

/**
 * The machine-readable block: every routing field (null when absent), the key, `truncated`, and
 * `auditAnchor` (the audit head at acceptance, `SEQ:HASH`, or null).
 */
export type ReportBlock = RoutingFields & {
  idempotencyKey: string;
  truncated: boolean;
  auditAnchor: string | null;
};

/** Cut to `max` code units without splitting a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, Math.max(0, max));
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

function capped(text: string, max: number): string {
  return text.length <= max ? text : `${cutText(text, max - 1)}…`;
}

/**
 * The run report as a payload quotes it: summary cut to `summaryMaxChars`, at most `maxFiles`
 * file names (each capped), and the title, error and model capped, so that the smallest report
 * has a bounded size whatever the run produced. `truncated` is true when anything was cut.
 */
export function trimReport(
  report: RunReport,
  options: ReportOptions,
): { report: RunReport; truncated: boolean } {
  const maxFiles = Math.max(0, options.maxFiles ?? 50);
  const trimmed: RunReport = {
    ...report,
    titleText: capped(report.titleText, MAX_TITLE_CHARS),
    error: report.error
      ? {
          name: capped(report.error.name, MAX_MODEL_CHARS),
          message: capped(report.error.message, MAX_ERROR_CHARS),
        }
      : null,
    summary: cutText(report.summary, options.summaryMaxChars),
    filesChanged: report.filesChanged.slice(0, maxFiles).map((file) => capped(file, MAX_PATH_CHARS)),
    model: report.model === null ? null : capped(report.model, MAX_MODEL_CHARS),
  };
  const truncated =
    trimmed.titleText !== report.titleText ||
    trimmed.error?.name !== report.error?.name ||
    trimmed.error?.message !== report.error?.message ||
    trimmed.summary.length !== fullSummaryLength(report) ||
    trimmed.filesChanged.length !== report.filesChanged.length ||
    trimmed.filesChanged.some((file, i) => file !== report.filesChanged[i]) ||
    trimmed.model !== report.model;
  return { report: trimmed, truncated };
}

function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

// One formatter: `n.toLocaleString("en-US")` builds (and throws away) an Intl.NumberFormat per call.
const EN_US = new Intl.NumberFormat("en-US");
/**
 * `n` with en-US thousands separators. Token counts are safe integers: grouped by hand, about 5 µs
 * less per call than Intl (a report formats six), on the way to the callback's first request.
 */
const count = (n: number) =>
  Number.isSafeInteger(n) && !Object.is(n, -0) ? String(n).replace(/\B(?=(\d{3})+$)/g, ",") : EN_US.format(n);

/** A fence longer than any backtick run inside, so a value holding ``` cannot close it early. */
function fence(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  return "`".repeat(Math.max(3, longest + 1));
}

/**
 * The readable report of one run: the `message` of an OpenClaw `/agent` call, the `text` of a
 * `/wake`, and `data.message` of a webhook. It ends with a fenced JSON block (after
 * REPORT_BLOCK_MARKER) holding every routing field, so an agent reading the text can act on it
 * and `parseReportBlock` can read it back. Deterministic: the same input gives the same text.
 */
export function buildReport(
  callback: Callback,
  options: ReportOptions,
  /** `trimReport(callback.report, options)`, when the caller has it already. */
  trimmed: { report: RunReport; truncated: boolean } = trimReport(callback.report, options),
): string {
  const { routing, report: full } = callback;
  const { report, truncated } = trimmed;
  const lines: string[] = [];

  const error = report.error ? `: ${report.error.name}: ${report.error.message}` : "";
  lines.push(
    `OpenCode run ${routing.runId} ${routing.outcome}${report.error ? ` (${report.error.name})` : ""}`,
  );
  lines.push("");
  lines.push(`Outcome: ${routing.outcome}${error}`);
  lines.push(`Run: ${routing.runId}`);
  lines.push(`Task: ${routing.taskId ?? "(none)"}`);
  lines.push(`OpenCode session: ${routing.opencodeSessionId}`);
  if (report.titleText) lines.push(`Title: ${report.titleText}`);
  const agents = `requested ${routing.requestedAgent ?? "?"}, resolved ${routing.resolvedAgent ?? "?"}`;
  const fallback = routing.fallbackUsed
    ? " (FALLBACK USED: the agent that ran is not the one requested)"
    : "";
  lines.push(`Agent: ${routing.actualAgent ?? "?"} (${agents})${fallback}`);
  if (report.model) lines.push(`Model: ${report.model}`);
  lines.push(`Duration: ${formatDuration(report.durationMs)}`);
  if (report.tokens) {
    const t = report.tokens;
    lines.push(
      `Tokens: ${count(t.input)} in, ${count(t.output)} out, ${count(t.reasoning)} reasoning, ` +
        `${count(t.cacheRead)} cache read, ${count(t.cacheWrite)} cache write`,
    );
  }
  if (report.cost !== null) lines.push(`Cost: $${report.cost.toFixed(4)}`);

  lines.push("");
  const listed = report.filesChanged.length;
  lines.push(
    `Files changed (${full.filesChanged.length}):${listed === 0 && full.filesChanged.length > 0 ? " not listed" : ""}`,
  );
  for (const file of report.filesChanged) lines.push(`- ${file}`);
  if (full.filesChanged.length > listed) lines.push(`- … and ${full.filesChanged.length - listed} more`);

  lines.push("");
  const summaryLength = fullSummaryLength(full);
  if (report.summary.length < summaryLength) {
    lines.push(`Summary (TRUNCATED: first ${report.summary.length} of ${summaryLength} characters):`);
  } else {
    lines.push("Summary:");
  }
  lines.push(summaryLength === 0 ? "(no assistant text)" : report.summary);
  if (truncated)
    lines.push("", "[This report was truncated to fit; the full result is in the OpenCode session.]");

  const block: ReportBlock = {
    ...pickRouting(routing),
    idempotencyKey: callback.idempotencyKey,
    truncated,
    auditAnchor: callback.auditAnchor ?? null,
  };
  const json = JSON.stringify(block, null, 2);
  const f = fence(json);
  lines.push("", REPORT_BLOCK_MARKER, `${f}json`, json, f);
  return lines.join("\n");
}

/** Every routing field, in block order, `null` for any absent value (never omitted). */
export function pickRouting(routing: RoutingFields): RoutingFields {
  const out: Record<string, unknown> = {};
  for (const name of ROUTING_FIELD_NAMES) out[name] = routing[name] ?? null;
  return out as unknown as RoutingFields;
}

/**
 * Read the machine-readable block back out of a report (the last one after REPORT_BLOCK_MARKER).
 * Returns undefined when there is none or it is not JSON: the text came from something else.
 */
export function parseReportBlock(text: string): Record<string, unknown> | undefined {
  const at = text.lastIndexOf(`\n${REPORT_BLOCK_MARKER}\n`);
  if (at < 0) return undefined;
  const rest = text.slice(at + REPORT_BLOCK_MARKER.length + 2);
  const open = /^(`{3,})json\n/.exec(rest);
  if (!open?.[1]) return undefined;
  const close = rest.lastIndexOf(`\n${open[1]}`);
  if (close < open[0].length - 1) return undefined;
  try {
    const value: unknown = JSON.parse(rest.slice(open[0].length, close));
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
