import { readAudit } from "../../../relay/index.ts";
import type { CliIO } from "../cli-io.ts";
import { type RunSummary, summarizeRuns } from "../summarize-runs.ts";
import type { AuditOptions } from "./audit.ts";
import {
  type Column,
  formatCount,
  formatDuration,
  renderTable,
  shortId,
  shortTime,
  stateTint,
  tint,
} from "./audit-format.ts";
import { parseSince } from "./audit-since.ts";

const DEFAULT_TABLE_LIMIT = 50;

// Ten fields in the terminal's width (80 when not a terminal): the day goes in heading lines, fixed
// columns are as narrow as their values allow, the OpenCode session drops its `ses_` and is cut in
// the middle first. The callback session and the code are whole (`keep`): they are what one acts on
// and greps for, so the line grows past the width rather than cut them.
const COLUMNS: Column[] = [
  { header: "UTC", width: 5 },
  { header: "run", min: 8, max: 24, cut: "middle", shrink: 2 },
  { header: "task", min: 4, max: 12, shrink: 1 },
  { header: "session", min: 8, max: 30, cut: "middle", shrink: 0 },
  { header: "callback", keep: true },
  { header: "outcome", min: 9, max: 11, shrink: 3 },
  { header: "state", width: 9 },
  { header: "att", width: 3, align: "right" },
  { header: "lat", width: 5, align: "right" },
  { header: "code", keep: true },
];
const STATE_COLUMN = 6;

/**
 * `audit` without a subcommand: one row per run, newest first, in the terminal's width, or one JSON line
 * per run with --json. Exit 1 when no run matches.
 */
export async function auditRuns(options: AuditOptions, io: CliIO): Promise<number> {
  const digest = await summarizeRuns(readAudit(options.path));
  const since = options.since === undefined ? null : parseSince(options.since, Date.now());
  const matches = (run: RunSummary) =>
    (options.run === undefined || run.runId === options.run || run.key === options.run) &&
    (options.session === undefined ||
      run.sessionId === options.session ||
      run.callbackSession === options.session) &&
    (options.state === undefined || run.state === options.state) &&
    (since === null || Date.parse(run.lastTs) >= since);
  const runs = [...digest.runs.values()].filter(matches);
  if (runs.length === 0) {
    io.stderr(
      `no runs match${digest.runs.size === 0 ? "" : ` (the log holds ${formatCount(digest.runs.size)} runs)`}\n`,
    );
    return 1;
  }
  // ISO-8601 UTC strings order as their times do.
  runs.sort((a, b) => (a.firstTs < b.firstTs ? 1 : a.firstTs > b.firstTs ? -1 : 0));
  const limit = Number(options.limit ?? (options.json ? 0 : DEFAULT_TABLE_LIMIT));
  const shown = limit > 0 ? runs.slice(0, limit) : runs;

  if (options.json) {
    io.stdout(shown.map((run) => `${JSON.stringify(run)}\n`).join(""));
    return 0;
  }
  const rows = shown.map((run) => [
    shortTime(run.firstTs),
    run.runId ?? "-",
    run.taskId ?? "-",
    run.sessionId === null ? "-" : shortId(run.sessionId),
    run.callbackSession ?? "-",
    run.outcome ?? "-",
    run.state,
    String(run.attempts),
    formatDuration(run.latencyMs),
    run.lastCode ?? "",
  ]);
  io.stdout(
    renderTable(COLUMNS, rows, {
      total: io.columns ?? 80,
      header: (text) => tint(io.color, "bold", text),
      group: (row) => tint(io.color, "dim", `── ${shown[row]!.firstTs.slice(0, 10)}`),
      paint: (row, column, text) =>
        column === STATE_COLUMN ? tint(io.color, stateTint(shown[row]!.state), text) : text,
    }),
  );
  if (shown.length < runs.length) {
    io.stdout(
      tint(
        io.color,
        "dim",
        `${formatCount(shown.length)} of ${formatCount(runs.length)} runs; --limit 0 shows all\n`,
      ),
    );
  }
  return 0;
}
