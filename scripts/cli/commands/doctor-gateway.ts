import path from "node:path";
import { isPlainObject, type LoadedConfig } from "../../../relay/index.ts";
import { parseJson5 } from "../parse-json5.ts";
import { readIfExists } from "../read-if-exists.ts";
import { check, type DoctorCheck } from "./doctor-check.ts";

type Env = Record<string, string | undefined>;

/**
 * Where the OpenClaw gateway keeps its configuration, as OpenClaw resolves it:
 * `$OPENCLAW_CONFIG_PATH`, else `$OPENCLAW_STATE_DIR/openclaw.json`, else
 * `<$OPENCLAW_HOME or $HOME>/.openclaw/openclaw.json`.
 */
export function gatewayConfigPath(env: Env, home: string): string {
  if (env.OPENCLAW_CONFIG_PATH) return path.resolve(env.OPENCLAW_CONFIG_PATH);
  if (env.OPENCLAW_STATE_DIR) return path.join(path.resolve(env.OPENCLAW_STATE_DIR), "openclaw.json");
  return path.join(env.OPENCLAW_HOME || home, ".openclaw", "openclaw.json");
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/**
 * The gateway settings a callback needs, read from the gateway's own openclaw.json (no request can
 * reveal them without starting a turn): hooks enabled at target.url's path, a request-supplied
 * sessionKey allowed, every configured callbackSessionPrefixes admitted by the gateway's
 * allowedSessionKeyPrefixes (case-insensitive), the agentId allowed. A gateway on another host,
 * or a file that cannot be read, is a warning saying how to verify.
 */
export async function checkGateway(
  loaded: LoadedConfig,
  file: string,
  explicit: boolean,
): Promise<DoctorCheck[]> {
  const { target, callbackSessionPrefixes } = loaded.config;
  const url = new URL(target.url);
  if (!explicit && !LOOPBACK.has(url.hostname)) {
    return [
      check(
        "gateway.config",
        "warn",
        `the gateway at ${url.host} is not on this machine: its hooks settings cannot be read`,
        {
          fix: "run doctor there, pass --openclaw-config FILE, or run `doctor --send-test` (sends one labelled test callback)",
        },
      ),
    ];
  }
  let text: string | undefined;
  let parsed: unknown;
  try {
    text = await readIfExists(file);
    if (text !== undefined) parsed = parseJson5(text);
  } catch (error) {
    return [
      check(
        "gateway.config",
        "warn",
        `${file} cannot be read: ${error instanceof Error ? error.message : String(error)}`,
        {
          fix: "run doctor as the gateway's user, or `doctor --send-test`",
        },
      ),
    ];
  }
  if (text === undefined) {
    return [
      check("gateway.config", "warn", `no gateway configuration at ${file}`, {
        fix: "pass --openclaw-config FILE (or set OPENCLAW_CONFIG_PATH), or run `doctor --send-test`",
      }),
    ];
  }
  const hooks = isPlainObject(parsed) && isPlainObject(parsed.hooks) ? parsed.hooks : {};
  const checks: DoctorCheck[] = [check("gateway.config", "ok", `gateway configuration ${file}`)];
  const fail = (id: string, summary: string, fix: string, code?: string) =>
    checks.push(check(`gateway.${id}`, "fail", summary, { fix: `${fix} in ${file}`, code }));

  if (hooks.enabled !== true)
    fail(
      "enabled",
      "hooks.enabled is not true: the gateway has no hooks endpoints",
      "set hooks.enabled: true",
    );
  const hooksPath = typeof hooks.path === "string" ? hooks.path : "/hooks";
  if (url.pathname.replace(/\/+$/, "") !== hooksPath.replace(/\/+$/, "")) {
    fail(
      "path",
      `target.url's path ${url.pathname} is not the gateway's hooks.path ${hooksPath}`,
      `make them equal (target.url …${hooksPath})`,
    );
  }
  if (hooks.allowRequestSessionKey !== true) {
    fail(
      "allowRequestSessionKey",
      "hooks.allowRequestSessionKey is not true: every callback names the caller's sessionKey and would get 400",
      "set hooks.allowRequestSessionKey: true",
      "DELIVERY_SESSION_KEY_DISABLED",
    );
  }
  const allowed = Array.isArray(hooks.allowedSessionKeyPrefixes)
    ? hooks.allowedSessionKeyPrefixes.filter((p): p is string => typeof p === "string")
    : undefined;
  if (allowed === undefined || allowed.length === 0) {
    if (target.kind === "openclaw-agent" && target.sessionMode === "persistent") {
      fail(
        "allowedSessionKeyPrefixes",
        "hooks.allowedSessionKeyPrefixes is empty: persistent sessionMode needs a non-empty list",
        `set hooks.allowedSessionKeyPrefixes: ["hook:", ${callbackSessionPrefixes.map((p) => JSON.stringify(p)).join(", ")}]`,
      );
    } else {
      checks.push(
        check(
          "gateway.allowedSessionKeyPrefixes",
          "warn",
          "hooks.allowedSessionKeyPrefixes is not set: which session keys the gateway admits is unknown",
          {
            fix: `set it to ["hook:", ${callbackSessionPrefixes.map((p) => JSON.stringify(p)).join(", ")}], or run doctor --send-test`,
          },
        ),
      );
    }
  } else {
    const admits = (prefix: string) => allowed.some((g) => prefix.toLowerCase().startsWith(g.toLowerCase()));
    const refused = callbackSessionPrefixes.filter((p) => !admits(p));
    if (refused.length > 0) {
      fail(
        "allowedSessionKeyPrefixes",
        `the gateway's allowedSessionKeyPrefixes (${allowed.join(", ")}) do not admit callbackSessionPrefixes ${refused.join(", ")}`,
        `add ${refused.map((p) => JSON.stringify(p)).join(", ")} to hooks.allowedSessionKeyPrefixes, or narrow callbackSessionPrefixes`,
        "DELIVERY_SESSION_KEY_PREFIX",
      );
    } else {
      checks.push(
        check(
          "gateway.allowedSessionKeyPrefixes",
          "ok",
          `the gateway admits callbackSessionPrefixes ${callbackSessionPrefixes.join(", ")}`,
        ),
      );
    }
    if (!allowed.some((g) => g.toLowerCase() === "hook:") && typeof hooks.defaultSessionKey !== "string") {
      checks.push(
        check(
          "gateway.hookPrefix",
          "warn",
          'hooks.allowedSessionKeyPrefixes lacks "hook:": a hot reload rejects such a list and silently keeps the old one',
          {
            fix: `add "hook:" in ${file}, restart the gateway, then run doctor again`,
          },
        ),
      );
    }
  }
  const agents = hooks.allowedAgentIds;
  if (
    Array.isArray(agents) &&
    (target.agentId === undefined ? agents.length === 0 : !agents.includes(target.agentId))
  ) {
    fail(
      "allowedAgentIds",
      `hooks.allowedAgentIds does not admit ${target.agentId ?? "any agent"}`,
      `add ${JSON.stringify(target.agentId ?? "main")} to hooks.allowedAgentIds`,
    );
  }
  return checks;
}
