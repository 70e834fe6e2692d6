import { readAudit } from "../../../relay/index.ts";
import type { CliIO } from "../cli-io.ts";
import { DELIVERY_STATES, summarizeRuns } from "../summarize-runs.ts";
import type { AuditOptions } from "./audit.ts";
import { formatCount, formatDuration, longTime, stateTint, tint } from "./audit-format.ts";

const TOP_CODES = 10;

/** The figures `audit stats` prints (and `--json` emits). */
export interface AuditStats {
  records: number;
  runs: number;
  /** Records that belong to no run (config errors…). */
  unattributed: number;
  firstTs: string | null;
  lastTs: string | null;
  byOutcome: Record<string, number>;
  byState: Record<string, number>;
  /** accepted → delivered, over delivered runs, milliseconds. */
  latency: { count: number; p50: number | null; p95: number | null; max: number | null };
  topCodes: { code: string; count: number }[];
}

/** `audit stats`: counts by outcome and by state, delivery latency p50/p95/max, top failure codes. */
export async function auditStats(options: AuditOptions, io: CliIO): Promise<number> {
  const digest = await summarizeRuns(readAudit(options.path));
  const byOutcome: Record<string, number> = {};
  const byState: Record<string, number> = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0]));
  const latencies: number[] = [];
  for (const run of digest.runs.values()) {
    const outcome = run.outcome ?? "-";
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
    byState[run.state] = (byState[run.state] ?? 0) + 1;
    if (run.latencyMs !== null) latencies.push(run.latencyMs);
  }
  latencies.sort((a, b) => a - b);
  const stats: AuditStats = {
    records: digest.records,
    runs: digest.runs.size,
    unattributed: digest.unattributed,
    firstTs: digest.firstTs,
    lastTs: digest.lastTs,
    byOutcome,
    byState,
    latency: {
      count: latencies.length,
      p50: percentile(latencies, 0.5),
      p95: percentile(latencies, 0.95),
      max: latencies.at(-1) ?? null,
    },
    topCodes: [...digest.codes]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, TOP_CODES)
      .map(([code, count]) => ({ code, count })),
  };
  if (options.json) {
    io.stdout(`${JSON.stringify(stats)}\n`);
    return 0;
  }
  io.stdout(renderStats(stats, io.color));
  return 0;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function renderStats(s: AuditStats, color: boolean): string {
  const counts = (entries: [string, number][], paint?: (k: string, t: string) => string) =>
    entries
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${paint ? paint(k, k) : k} ${formatCount(n)}`)
      .join("  ") || "-";
  const span =
    s.firstTs === null ? "" : ` from ${longTime(s.firstTs)} to ${longTime(s.lastTs ?? s.firstTs)} UTC`;
  const width = Math.max(4, ...s.topCodes.map((c) => c.code.length));
  return [
    `${tint(color, "bold", "records")}  ${formatCount(s.records)}${span}`,
    `${tint(color, "bold", "runs")}     ${formatCount(s.runs)}${s.unattributed > 0 ? ` (and ${formatCount(s.unattributed)} records outside any run)` : ""}`,
    `${tint(color, "bold", "outcome")}  ${counts(Object.entries(s.byOutcome))}`,
    `${tint(color, "bold", "state")}    ${counts(Object.entries(s.byState), (k, t) => tint(color, stateTint(k), t))}`,
    `${tint(color, "bold", "latency")}  accepted → delivered over ${formatCount(s.latency.count)} runs: p50 ${formatDuration(s.latency.p50)}  p95 ${formatDuration(s.latency.p95)}  max ${formatDuration(s.latency.max)}`,
    `${tint(color, "bold", "top failure codes")}${s.topCodes.length === 0 ? " none" : ""}`,
    ...s.topCodes.map((c) => `  ${c.code.padEnd(width)}  ${formatCount(c.count).padStart(9)}`),
    "",
  ].join("\n");
}
