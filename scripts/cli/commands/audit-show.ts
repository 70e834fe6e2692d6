import type { AuditRecord } from "../../../relay/index.ts";
import { readAudit } from "../../../relay/index.ts";
import type { CliIO } from "../cli-io.ts";
import { runKeyOf, summarizeRuns } from "../summarize-runs.ts";
import type { AuditOptions } from "./audit.ts";
import {
  formatBytes,
  formatDuration,
  longTime,
  stateTint,
  type Tint,
  tint,
  truncate,
} from "./audit-format.ts";

const EXCERPT_CHARS = 300;
const INDENT = " ".repeat(33);

/**
 * `audit show <id>`: the full timeline of the run(s) `id` names (a runId, an OpenCode session id,
 * a `sessionId|runId` or an idempotency key): every record with its time, phase, code, reason and
 * hint, request summary and response. Exit 1 when nothing matches.
 */
export async function auditShow(id: string, options: AuditOptions, io: CliIO): Promise<number> {
  const groups = new Map<string, AuditRecord[]>();
  for await (const record of readAudit(options.path)) {
    if (
      record.runId !== id &&
      record.sessionId !== id &&
      record.dedupeKey !== id &&
      record.idempotencyKey !== id
    ) {
      continue;
    }
    const key = runKeyOf(record) ?? `${record.sessionId ?? "?"}|`;
    const group = groups.get(key) ?? [];
    group.push(record);
    groups.set(key, group);
  }
  if (groups.size === 0) {
    io.stderr(
      `no records for ${JSON.stringify(id)}: give a runId, an OpenCode session id or sessionId|runId\n`,
    );
    return 1;
  }
  if (options.json) {
    for (const records of groups.values()) io.stdout(records.map((r) => `${JSON.stringify(r)}\n`).join(""));
    return 0;
  }
  let first = true;
  for (const records of groups.values()) {
    if (!first) io.stdout("\n");
    first = false;
    io.stdout(await header(records, io.color));
    for (const record of records) io.stdout(timelineEntry(record, io.color));
  }
  return 0;
}

async function header(records: AuditRecord[], color: boolean): Promise<string> {
  const digest = await summarizeRuns(
    (async function* () {
      yield* records;
    })(),
  );
  const run = [...digest.runs.values()][0];
  if (run === undefined) return "";
  const any = records[0]!;
  const line1 = [
    `run ${run.runId ?? "-"}`,
    `task ${run.taskId ?? "-"}`,
    `session ${run.sessionId ?? "-"}`,
    `callback ${run.callbackSession ?? "-"}`,
  ].join("  ");
  const line2 = [
    `state ${tint(color, stateTint(run.state), run.state)}`,
    `outcome ${run.outcome ?? "-"}`,
    `attempts ${run.attempts}`,
    `latency ${formatDuration(run.latencyMs)}`,
    ...(typeof any.idempotencyKey === "string" ? [`idempotency ${any.idempotencyKey}`] : []),
  ].join("  ");
  return `${tint(color, "bold", line1)}\n${line2}\n`;
}

const PHASE_TINT: Record<string, Tint> = {
  delivered: "green",
  failed: "red",
  integrity_error: "magenta",
  retry_scheduled: "yellow",
  config_error: "red",
};

/** One record of the timeline: a headline and indented details. */
export function timelineEntry(r: AuditRecord, color: boolean): string {
  const phase = tint(color, PHASE_TINT[r.phase] ?? "cyan", r.phase.padEnd(15));
  const lines = [`${longTime(r.ts)}  ${phase} ${summary(r)}`.trimEnd()];
  const detail = (label: string, value: unknown) => {
    if (typeof value === "string" && value !== "") {
      // Control characters (a newline in a response body) would break the timeline's layout.
      const flat = value.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
      lines.push(`${INDENT}${label}: ${truncate(flat, EXCERPT_CHARS)}`);
    }
  };
  if (r.phase === "attempt") {
    const kind = typeof r.kind === "string" ? `${r.kind}, ` : "";
    const bytes = typeof r.requestBytes === "number" ? formatBytes(r.requestBytes) : "? B";
    if (typeof r.url === "string") lines.push(`${INDENT}request: POST ${r.url} (${kind}${bytes})`);
    detail("response", r.responseExcerpt);
  }
  detail("reason", r.reason);
  detail("hint", r.hint);
  return `${lines.join("\n")}\n`;
}

function summary(r: AuditRecord): string {
  const parts: string[] = [];
  const code = typeof r.code === "string" ? r.code : "";
  switch (r.phase) {
    case "attempt":
      parts.push(`#${r.attempt ?? "?"}`, typeof r.status === "number" ? String(r.status) : "no answer", code);
      if (typeof r.durationMs === "number") parts.push(formatDuration(r.durationMs));
      if (r.result === "unknown") parts.push("(outcome unknown)");
      break;
    case "retry_scheduled":
      parts.push(code, `next in ${formatDuration(r.delayMs as number | undefined)}`);
      if (typeof r.dueAt === "string") parts.push(`(due ${longTime(r.dueAt)})`);
      break;
    case "delivered":
      parts.push(`status ${r.status ?? "?"}`, `after ${r.attempts ?? "?"} attempt(s)`);
      break;
    case "failed":
      parts.push(code, `after ${r.attempts ?? "?"} attempt(s)`);
      if (typeof r.lastCode === "string") parts.push(`last ${r.lastCode}`);
      if (r.result === "unknown") parts.push("(the receiver may have acted)");
      break;
    case "accepted":
      parts.push(`outcome ${r.outcome ?? "?"}`);
      if (r.fallbackUsed === true) parts.push(`fallback used (ran ${r.actualAgent ?? "?"})`);
      if (r.durable === false) parts.push("not durable");
      break;
    default:
      parts.push(code);
  }
  parts.push(`seq ${r.seq}`);
  return parts.filter((p) => p !== "").join("  ");
}
