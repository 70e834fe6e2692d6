import { join } from "node:path";
import {
  AUDIT_KEY_FILE,
  ERROR_CODES,
  loadConfig,
  openAuditLog,
  type RedeliverResult,
  redeliver,
} from "../../../relay/index.ts";
import { CLI_ENVIRONMENT, type CliIO } from "../cli-io.ts";

/** What `audit redeliver` was asked, besides the runId. */
export interface RedeliverFlags {
  /** The OpenCode config dir whose callback-relay.jsonc to load. @default the usual one */
  configDir?: string;
  /** `--session ID`: the OpenCode session meant, when the runId ran in several. */
  session?: string;
  /** `--now`: send a still-pending callback now instead of at its due time. @default false */
  now?: boolean;
  /** `--force`: resend a delivered callback, or despite a log that does not verify. @default false */
  force?: boolean;
}

/**
 * `audit redeliver <runId> [--session ID] [--now] [--force]`: resend a callback with its original
 * idempotency key (relay/delivery/redeliver.ts decides what may be sent). It needs the
 * configuration (target, token, stateDir), not just the log, so it always loads
 * `callback-relay.jsonc` the way the plugin does.
 */
export async function auditRedeliver(runId: string, flags: RedeliverFlags, io: CliIO): Promise<number> {
  const { configDir } = flags;
  const loaded = await loadConfig({
    ...(configDir === undefined ? {} : { configDir }),
    env: io.env,
    environment: CLI_ENVIRONMENT,
  });
  if (!loaded.ok) {
    io.stderr(
      `opencode-callback-relay audit redeliver: ${loaded.error.code}: ${loaded.error.message}\n  hint: ${loaded.error.hint}\n`,
    );
    return 1;
  }
  const { config, auditPath, stateDir, secrets } = loaded.value;
  const audit = openAuditLog({
    path: auditPath,
    maxBytes: config.audit.maxBytes,
    secrets,
    keyPath: join(stateDir, AUDIT_KEY_FILE),
  });
  const result = await redeliver({
    config,
    stateDir,
    audit,
    auditPath,
    runId,
    ...(flags.session === undefined ? {} : { session: flags.session }),
    pending: flags.now === true,
    force: flags.force === true,
  });
  await audit.flush();
  const status = result.status === undefined ? "" : ` (HTTP ${result.status})`;
  if (result.ok) {
    const forced = flags.force ? ", forced" : "";
    const by = result.nudged ? ` by the relay holding it (${holderText(result)}), nudged` : "";
    io.stdout(`redelivered ${runId}${status}${forced}${by}; audited in ${auditPath}\n`);
    return 0;
  }
  const code = result.code ?? "INTERNAL";
  io.stderr(
    `opencode-callback-relay audit redeliver ${runId}: ${code}${status}\n${details(runId, result)}  hint: ${ERROR_CODES[code].hint}\n`,
  );
  return 1;
}

/** The facts behind a refusal, one indented line each: what to pick, who holds it, when it is due. */
function details(runId: string, result: RedeliverResult): string {
  const lines: string[] = [];
  if (result.reason !== undefined) lines.push(result.reason);
  const due = result.dueAt === undefined ? undefined : new Date(result.dueAt).toISOString();
  if (result.sessions !== undefined) {
    lines.push(`OpenCode sessions with run ${runId}: ${result.sessions.join(", ")}`);
    for (const session of result.sessions)
      lines.push(`  opencode-callback-relay audit redeliver ${runId} --session ${session}`);
  }
  if (result.holder !== undefined)
    lines.push(`${result.nudged ? "nudged the relay holding it" : "held by"} ${holderText(result)}`);
  if (result.stillPending)
    lines.push("still pending: due now for the next relay that runs (OpenCode started)");
  else if (due !== undefined) lines.push(`next attempt due at ${due}`);
  if (result.problem !== undefined) {
    const { kind, file, line, reason } = result.problem;
    lines.push(`audit log ${kind} at ${file}:${line}: ${reason}`);
  }
  return lines.map((line) => `  ${line}\n`).join("");
}

function holderText(result: RedeliverResult): string {
  const { pid, host, since } = result.holder ?? {};
  return `pid ${pid ?? "?"} on ${host ?? "an unknown host"}${since === undefined ? "" : ` since ${since}`}`;
}
