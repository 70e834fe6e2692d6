import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AUDIT_KEY_FILE, listRotated, loadConfig } from "../../../relay/index.ts";
import { CLI_ENVIRONMENT, type CliCommand, type CliIO } from "../cli-io.ts";
import { didYouMean } from "../did-you-mean.ts";
import { parseArgs } from "../parse-command-args.ts";
import { DELIVERY_STATES } from "../summarize-runs.ts";
import { UsageError } from "../usage-error.ts";
import { auditFollow } from "./audit-follow.ts";
import { auditRedeliver } from "./audit-redeliver.ts";
import { auditRuns } from "./audit-runs.ts";
import { auditShow } from "./audit-show.ts";
import { parseSince } from "./audit-since.ts";
import { auditStats } from "./audit-stats.ts";
import { AUDIT_SUBCOMMAND_USAGE, AUDIT_SUBCOMMANDS, AUDIT_USAGE } from "./audit-usage.ts";
import { auditVerify } from "./audit-verify.ts";

/** The options every audit subcommand gets, parsed. */
export interface AuditOptions {
  path: string;
  json: boolean;
  run?: string;
  session?: string;
  state?: string;
  since?: string;
  limit?: string;
  /** verify: `--key PATH`, or the key in the configuration's stateDir. */
  keyPath?: string;
  /** verify: whether the key was asked for (`--key`): then it must be readable. */
  keyRequired?: boolean;
  /** verify: `--anchor SEQ:HASH`, as given. */
  anchors?: string[];
}

const LISTING_ONLY = ["run", "session", "state", "since", "limit"] as const;
const VERIFY_ONLY = ["key", "anchor"] as const;
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
      follow: { type: "boolean", short: "f", default: false },
      key: { type: "string" },
      anchor: { type: "string", multiple: true },
      now: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [subcommand, ...rest] = positionals;
  if (subcommand !== undefined && !AUDIT_SUBCOMMANDS.includes(subcommand)) {
    const guess = didYouMean(subcommand, AUDIT_SUBCOMMANDS);
    throw new UsageError(
      `unknown audit subcommand ${JSON.stringify(subcommand)}${guess === undefined ? ` (${AUDIT_SUBCOMMANDS.join(", ")})` : `; did you mean ${guess}?`}`,
    );
  }
  if (values.help) {
    io.stdout(subcommand === undefined ? AUDIT_USAGE : AUDIT_SUBCOMMAND_USAGE[subcommand]!);
    return 0;
  }
  if (values.follow && subcommand !== undefined)
    throw new UsageError(`--follow applies to the run listing, not to ${subcommand}`);
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
  const verifyFlag = VERIFY_ONLY.find((flag) => values[flag] !== undefined);
  if (verifyFlag !== undefined && subcommand !== "verify")
    throw new UsageError(`--${verifyFlag} applies to verify only`);
  const { path, stateDir } = await findAuditPath(values, io);
  const keyPath =
    values.key !== undefined
      ? resolve(io.cwd, values.key)
      : stateDir === undefined
        ? undefined
        : join(stateDir, AUDIT_KEY_FILE);
  const options: AuditOptions = {
    path,
    ...(keyPath === undefined ? {} : { keyPath, keyRequired: values.key !== undefined }),
    ...(values.anchor === undefined ? {} : { anchors: values.anchor }),
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
    // Unknown subcommands were refused above, with a suggestion.
  }
  if (subcommand === undefined) validateListing(options);
  // The log may not exist yet when one starts watching for the first run.
  if (values.follow) return auditFollow(options, io);

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

/** The log's path, and the state dir (where its key is) when a configuration names them. */
async function findAuditPath(
  values: { file?: string; "config-dir"?: string },
  io: CliIO,
): Promise<{ path: string; stateDir?: string }> {
  if (values.file !== undefined) return { path: resolve(io.cwd, values.file) };
  const configDir = values["config-dir"];
  const loaded = await loadConfig({
    ...(configDir === undefined ? {} : { configDir: resolve(io.cwd, configDir) }),
    env: io.env,
    environment: CLI_ENVIRONMENT,
  });
  if (loaded.ok) return { path: loaded.value.auditPath, stateDir: loaded.value.stateDir };
  // A broken configuration is often why one is reading the log: carry on with the path it names.
  if (loaded.error.code !== "CONFIG_NOT_FOUND") {
    io.stderr(
      `note: configuration ${loaded.error.code}: ${loaded.error.message}; reading ${loaded.auditPath}\n`,
    );
  }
  return { path: loaded.auditPath, stateDir: loaded.stateDir };
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
