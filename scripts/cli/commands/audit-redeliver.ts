import { join } from "node:path";
import { AUDIT_KEY_FILE, ERROR_CODES, loadConfig, openAuditLog, redeliver } from "../../../relay/index.ts";
import { CLI_ENVIRONMENT, type CliIO } from "../cli-io.ts";

/**
 * `audit redeliver <runId>`: resend a failed or unknown callback with its original idempotency
 * key. It needs the configuration (target, token, stateDir), not just the log, so it always
 * loads `callback-relay.jsonc` the way the plugin does.
 */
export async function auditRedeliver(
  runId: string,
  configDir: string | undefined,
  io: CliIO,
): Promise<number> {
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
  const result = await redeliver({ config, stateDir, audit, auditPath, runId });
  await audit.flush();
  const status = result.status === undefined ? "" : ` (HTTP ${result.status})`;
  if (result.ok) {
    io.stdout(`redelivered ${runId}${status}; audited in ${auditPath}\n`);
    return 0;
  }
  const code = result.code ?? "INTERNAL";
  io.stderr(
    `opencode-callback-relay audit redeliver ${runId}: ${code}${status}\n  hint: ${ERROR_CODES[code].hint}\n`,
  );
  return 1;
}
