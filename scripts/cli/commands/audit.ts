import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { listRotated, loadConfig } from "../../../relay/index.ts";
import type { CliCommand, CliIO } from "../cli-io.ts";
import { DELIVERY_STATES } from "../summarize-runs.ts";
import { UsageError } from "../usage-error.ts";
import { auditRedeliver } from "./audit-redeliver.ts";
import { auditRuns } from "./audit-runs.ts";
import { auditShow } from "./audit-show.ts";
import { parseSince } from "./audit-since.ts";
import { auditStats } from "./audit-stats.ts";
import { auditVerify } from "./audit-verify.ts";

const USAGE = `usage: opencode-callback-relay audit [subcommand] [options]

  (none)             one row per run, newest first: time (UTC), run, task, OpenCode session,
                     callback session, outcome, delivery state, attempts, latency, last code
  show <id>          every record of a run (id: runId, OpenCode session id or sessionId|runId)
  stats              runs by outcome and state, delivery latency p50/p95/max, top failure codes
  verify             check the hash chain; exit 1 at the first edited/removed/inserted/reordered record
  redeliver <runId>  resend a failed or unknown callback with the same idempotency key (needs the
                     configuration: --config-dir or the usual config dir, not --file); only when
                     the audit log verifies
    --session ID     the OpenCode session meant, when the runId ran in several
    --now            a callback still pending (retrying): send it now (a live relay holding it is
                     nudged to send it, and its attempt reported)
    --force          resend a delivered callback (the receiver lost it), or despite a log that does
                     not verify; same key, recorded as forced

where the log is:
  --file PATH        the audit log (rotated files PATH.1, PATH.2 … are read with it)
  --config-dir DIR   an OpenCode config dir whose callback-relay.jsonc names audit.path
                     (default: the usual config dir, then the default audit path)
listing (no subcommand):
  --run ID           only this runId (or sessionId|runId)
  --session ID       only runs of this OpenCode session or callback session
  --state STATE      delivered, pending, failed, refused (integrity), deduped, skipped, unknown
  --since WHEN       runs active since an ISO date/time or a relative age: 30m, 2h, 7d
  --limit N          at most N rows (default 50 for the table, all with --json; 0 = all)
  --json             JSON lines (one per run, or one object for stats/verify/show) for machines

exit: 0 ok, 1 problem found or nothing matched, 2 usage error
`;

/** The options every audit subcommand gets, parsed. */
export interface AuditOptions {
  path: string;
  json: boolean;
  run?: string;
  session?: string;
  state?: string;
  since?: string;
  limit?: string;
}

const LISTING_ONLY = ["run", "session", "state", "since", "limit"] as const;
const STATES: ReadonlySet<string> = new Set(DELIVERY_STATES);

/**
 * `opencode-callback-relay audit [show <id> | stats | verify] [options]`: review the audit log
 * after runs. Streams the log, so a log of millions of records is fine.
 */
export const audit: CliCommand = async (args, io) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      file: { type: "string" },
      "config-dir": { type: "string" },
      json: { type: "boolean", default: false },
      run: { type: "string" },
      session: { type: "string" },
      state: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
      now: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const [subcommand, ...rest] = positionals;
  if (subcommand !== undefined) {
    // redeliver takes --session too: the OpenCode session whose callback is meant.
    const misplaced = LISTING_ONLY.find(
      (flag) => values[flag] !== undefined && !(subcommand === "redeliver" && flag === "session"),
    );
    if (misplaced !== undefined)
      throw new UsageError(`--${misplaced} applies to the run listing, not to ${subcommand}`);
  }
  if (subcommand !== "redeliver" && (values.now || values.force))
    throw new UsageError(`--${values.now ? "now" : "force"} applies to redeliver only`);
  const expectOperands = (n: number, what: string) => {
    if (rest.length !== n) throw new UsageError(`${subcommand} takes ${what}`);
  };

  if (subcommand === "redeliver") {
    if (rest.length !== 1) throw new UsageError("redeliver takes one runId");
    if (values.file !== undefined)
      throw new UsageError(
        "redeliver needs the configuration (target, token, stateDir): use --config-dir, not --file",
      );
    const configDir = values["config-dir"];
    return auditRedeliver(
      rest[0]!,
      {
        ...(configDir === undefined ? {} : { configDir: resolve(io.cwd, configDir) }),
        ...(values.session === undefined ? {} : { session: values.session }),
        now: values.now,
        force: values.force,
      },
      io,
    );
  }
  const path = await findAuditPath(values, io);
  const options: AuditOptions = {
    path,
    json: values.json,
    ...(values.run === undefined ? {} : { run: values.run }),
    ...(values.session === undefined ? {} : { session: values.session }),
    ...(values.state === undefined ? {} : { state: values.state }),
    ...(values.since === undefined ? {} : { since: values.since }),
    ...(values.limit === undefined ? {} : { limit: values.limit }),
  };
  // Validate the command line before touching the log, so usage errors exit 2 even without one.
  switch (subcommand) {
    case undefined:
    case "stats":
    case "verify":
      if (subcommand !== undefined) expectOperands(0, "no operands");
      break;
    case "show":
      expectOperands(1, "one runId or session id");
      break;
    default:
      throw new UsageError(
        `unknown audit subcommand ${JSON.stringify(subcommand)} (show, stats, verify, redeliver)`,
      );
  }
  if (subcommand === undefined) validateListing(options);

  if (!(await logExists(path))) {
    io.stderr(
      `opencode-callback-relay audit: no audit log at ${path}\n  hint: pass --file PATH, or --config-dir DIR of the OpenCode config that ran the relay\n`,
    );
    return 1;
  }
  switch (subcommand) {
    case undefined:
      return auditRuns(options, io);
    case "show":
      return auditShow(rest[0]!, options, io);
    case "stats":
      return auditStats(options, io);
    default:
      return auditVerify(options, io);
  }
};

async function findAuditPath(values: { file?: string; "config-dir"?: string }, io: CliIO): Promise<string> {
  if (values.file !== undefined) return resolve(io.cwd, values.file);
  const configDir = values["config-dir"];
  const loaded = await loadConfig({
    ...(configDir === undefined ? {} : { configDir: resolve(io.cwd, configDir) }),
    env: io.env,
  });
  if (loaded.ok) return loaded.value.auditPath;
  // A broken configuration is often why one is reading the log: carry on with the path it names.
  if (loaded.error.code !== "CONFIG_NOT_FOUND") {
    io.stderr(
      `note: configuration ${loaded.error.code}: ${loaded.error.message}; reading ${loaded.auditPath}\n`,
    );
  }
  return loaded.auditPath;
}

function validateListing(options: AuditOptions): void {
  const { state, limit, since } = options;
  if (state !== undefined && !STATES.has(state)) {
    throw new UsageError(`--state ${JSON.stringify(state)}: expected one of ${[...STATES].join(", ")}`);
  }
  if (limit !== undefined && !/^\d+$/.test(limit))
    throw new UsageError(`--limit ${JSON.stringify(limit)}: expected a whole number`);
  if (since !== undefined && parseSince(since, Date.now()) === null) {
    throw new UsageError(
      `--since ${JSON.stringify(since)}: expected an ISO date (2026-01-31, 2026-01-31T12:00Z) or an age (30m, 2h, 7d)`,
    );
  }
}

async function logExists(path: string): Promise<boolean> {
  if (
    await stat(path).then(
      () => true,
      () => false,
    )
  )
    return true;
  return (await listRotated(path).catch(() => [])).length > 0;
}
