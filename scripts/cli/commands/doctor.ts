import os from "node:os";
import path from "node:path";
import { defaultConfigDir, toRelayError } from "../../../relay/index.ts";
import type { CliCommand } from "../cli-io.ts";
import { parseArgs } from "../parse-command-args.ts";
import { UsageError } from "../usage-error.ts";
import { allPass, check, type DoctorCheck, renderCheck } from "./doctor-check.ts";
import { checkConfig } from "./doctor-config.ts";
import { checkGateway, gatewayConfigPath } from "./doctor-gateway.ts";
import { checkOpencode } from "./doctor-opencode.ts";
import { checkPaths } from "./doctor-paths.ts";
import {
  checkRegistrations,
  findRegistrations,
  openCodeConfigPlaces,
  optionsAsOpenCodePasses,
  type Registration,
} from "./doctor-registrations.ts";
import { admitted, DEFAULT_TEST_SESSION, sendTest } from "./doctor-send-test.ts";
import { probeTarget } from "./doctor-target.ts";

export const DOCTOR_USAGE = `usage: opencode-callback-relay doctor [options]

Checks, without starting any agent turn, that a tagged run's callback would be delivered:
the plugin registrations OpenCode would load, the configuration (loaded as the plugin loads it)
and every {env:…}/{file:…} it needs, token shape, the keys the target kind needs, the state and
audit paths, OpenCode's version, and the target: reachable, token accepted (one request with an
empty body), and for OpenClaw the gateway's hooks settings read from its openclaw.json.
  ✓ holds   ✗ a callback would not be delivered (with the fix)   ! not verified (with how to)

  --project DIR          the folder \`opencode serve\` runs in (default: the current folder)
  --config-dir DIR       read callback-relay.jsonc from DIR (default: where the registered plugin reads it)
  --opencode BIN         the opencode binary to ask for its version (default: opencode on PATH)
  --openclaw-config FILE the gateway's openclaw.json (default: $OPENCLAW_CONFIG_PATH,
                         $OPENCLAW_STATE_DIR/openclaw.json, or $OPENCLAW_HOME|~/.openclaw/openclaw.json)
  --send-test            also send ONE labelled test callback along the configured route and
                         report the answer (OpenClaw agent mode runs a turn in that session)
  --session KEY          the caller session for --send-test (default: ${DEFAULT_TEST_SESSION})
  --strict               exit 1 on warnings too
  --json                 print {"ok", "checks": [{id, status, summary, fix?, code?}]} only

exit: 0 every check passed (warnings allowed unless --strict), 1 a check failed, 2 usage error
`;

/** `opencode-callback-relay doctor`: the operator's "will my callbacks arrive?" before runs depend on it. */
export const doctor: CliCommand = async (args, io) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      project: { type: "string" },
      "config-dir": { type: "string" },
      opencode: { type: "string" },
      "openclaw-config": { type: "string" },
      "send-test": { type: "boolean", default: false },
      session: { type: "string" },
      strict: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout(DOCTOR_USAGE);
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(`doctor takes no operands (got ${JSON.stringify(positionals[0])})`);
  if (values.session !== undefined && !values["send-test"])
    throw new UsageError("--session goes with --send-test");
  const { env, cwd } = io;
  const home = env.HOME || os.homedir();
  const projectDir = path.resolve(cwd, values.project ?? ".");
  const configDirFlag =
    values["config-dir"] === undefined ? undefined : path.resolve(cwd, values["config-dir"]);

  const checks: DoctorCheck[] = [];
  let registrations: Registration[] = [];
  try {
    registrations = await findRegistrations(await openCodeConfigPlaces(projectDir, env, configDirFlag), env);
    checks.push(checkRegistrations(registrations));
  } catch (error) {
    const err = toRelayError(error);
    checks.push(
      check("registrations", "fail", `an OpenCode config cannot be read: ${err.message}`, {
        code: err.code,
        fix: err.hint,
      }),
    );
  }
  // The copy OpenCode would run: a folder copy (no options) wins over an array entry.
  const chosen = registrations.find((r) => r.kind === "folder") ?? registrations[0];
  const configDir = configDirFlag ?? chosen?.configDir ?? defaultConfigDir(env);
  const options = chosen?.kind === "array" ? chosen.options : undefined;
  const config = await checkConfig(
    configDir,
    options,
    env,
    cwd,
    (o) => optionsAsOpenCodePasses(o, env) as Record<string, unknown>,
  );
  checks.push(...config.checks);
  checks.push(
    await checkOpencode(values.opencode === undefined ? undefined : path.resolve(cwd, values.opencode), env),
  );

  const loaded = config.loaded;
  if (loaded !== undefined) {
    checks.push(...(await checkPaths(loaded.stateDir, loaded.auditPath)));
    // A token already known to be wrong would only spend one of the gateway's 20 failed auths a minute.
    const badToken = checks.find((c) => c.id === "target.token" && c.status === "fail");
    const probe = badToken
      ? [check("target.auth", "fail", "not asked: the token above cannot be right", { fix: badToken.fix })]
      : await probeTarget(loaded.config.target, loaded.config.delivery.timeoutMs);
    checks.push(...probe);
    if (loaded.config.target.kind !== "webhook") {
      const explicit = values["openclaw-config"];
      const file = explicit === undefined ? gatewayConfigPath(env, home) : path.resolve(cwd, explicit);
      checks.push(...(await checkGateway(loaded, file, explicit !== undefined)));
    }
    if (values["send-test"]) {
      const session = values.session ?? DEFAULT_TEST_SESSION;
      if (values.session === undefined && !admitted(session, loaded.config.callbackSessionPrefixes))
        throw new UsageError(
          `--send-test needs --session KEY: ${DEFAULT_TEST_SESSION} is outside callbackSessionPrefixes`,
        );
      const refused = probe.find((c) => c.status === "fail");
      checks.push(
        refused === undefined
          ? await sendTest(loaded, session)
          : check("send-test", "fail", "not sent: the target check above failed", { fix: refused.fix }),
      );
    }
  } else if (values["send-test"]) {
    checks.push(
      check("send-test", "fail", "not sent: the configuration does not load", {
        fix: "fix the configuration above",
      }),
    );
  }

  const ok = allPass(checks, values.strict);
  if (values.json) {
    io.stdout(`${JSON.stringify({ ok, checks })}\n`);
    return ok ? 0 : 1;
  }
  io.stdout(checks.map((c) => renderCheck(c, io.color)).join(""));
  const count = (status: DoctorCheck["status"]) => checks.filter((c) => c.status === status).length;
  io.stdout(
    `\n${count("ok")} ok, ${count("warn")} not verified, ${count("fail")} failed: ${
      count("fail") === 0
        ? "a tagged run's callback would be delivered as far as checked"
        : "callbacks would NOT be delivered"
    }\n`,
  );
  return ok ? 0 : 1;
};
