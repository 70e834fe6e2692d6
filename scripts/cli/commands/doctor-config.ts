import { access, constants } from "node:fs/promises";
import path from "node:path";
import { parse } from "jsonc-parser";
import {
  CONFIG_ENV_VAR,
  CONFIG_FILE_NAME,
  isPlainObject,
  type LoadedConfig,
  loadConfig,
  resolveUserPath,
  webhookSecretKey,
} from "../../../relay/index.ts";
import { CLI_ENVIRONMENT } from "../cli-io.ts";
import { readIfExists } from "../read-if-exists.ts";
import { check, type DoctorCheck } from "./doctor-check.ts";

type Env = Record<string, string | undefined>;

/** `{env:NAME}` and `{file:PATH}`, OpenCode's substitution forms. */
const REFERENCE = /\{(env|file):([^}]+)\}/g;

/**
 * The configuration as the plugin would load it (same `loadConfig`, same config dir, the same
 * plugin options), each `{env:…}`/`{file:…}` it needs, and what the schema cannot say: token
 * shape and the keys each target kind needs. `loaded` is set when the plugin would start.
 */
export async function checkConfig(
  configDir: string,
  options: Record<string, unknown> | undefined,
  env: Env,
  cwd: string,
  /** What becomes of `options` on the way to the plugin (OpenCode's own substitution). */
  passOptions: (options: Record<string, unknown>) => Record<string, unknown> = (o) => o,
): Promise<{ checks: DoctorCheck[]; loaded?: LoadedConfig }> {
  const explicit = env[CONFIG_ENV_VAR];
  const file = explicit ? resolveUserPath(explicit, cwd, env) : path.join(configDir, CONFIG_FILE_NAME);
  const text = await readIfExists(file).catch(() => undefined);
  const checks = await checkReferences(
    [text === undefined ? undefined : parse(text), options],
    path.dirname(file),
    env,
  );
  const result = await loadConfig({
    configDir,
    env,
    environment: CLI_ENVIRONMENT,
    ...(options === undefined ? {} : { options: passOptions(options) }),
  });
  if (!result.ok) {
    const { error } = result;
    checks.push(
      check("config", "fail", `configuration (${result.file ?? file}): ${error.message}`, {
        code: error.code,
        fix: error.hint,
      }),
    );
    // The loader refuses a malformed token or secret itself: name the key as its own check too.
    const key = typeof error.details.key === "string" ? error.details.key : "";
    const secretKey = /^target\.(token|secret)/.exec(key)?.[0];
    if (secretKey !== undefined) {
      checks.push(check(secretKey, "fail", error.message, { code: error.code, fix: error.hint }));
    }
    return { checks };
  }
  const { config } = result.value;
  const from = result.value.file ?? "the plugin options in opencode.json";
  checks.push(check("config", "ok", `configuration ${from}: ${config.target.kind} → ${config.target.url}`));
  checks.push(...checkTarget(config.target));
  return { checks, loaded: result.value };
}

/** One check per distinct reference: the variable set here, the file readable. */
async function checkReferences(trees: unknown[], baseDir: string, env: Env): Promise<DoctorCheck[]> {
  const seen = new Map<string, string>();
  const walk = (node: unknown, key: string) => {
    if (typeof node === "string") {
      for (const match of node.matchAll(REFERENCE)) if (!seen.has(match[0])) seen.set(match[0], key);
    } else if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) walk(item, `${key}[${i}]`);
    } else if (isPlainObject(node)) {
      for (const [k, v] of Object.entries(node)) walk(v, key ? `${key}.${k}` : k);
    }
  };
  for (const tree of trees) walk(tree, "");
  const checks: DoctorCheck[] = [];
  for (const [reference, key] of seen) {
    const [, kind, name] = /^\{(env|file):(.+)\}$/.exec(reference)!;
    if (kind === "env") {
      checks.push(
        env[name!] === undefined
          ? check(`env:${name}`, "fail", `${reference} (${key}): ${name} is not set in this shell`, {
              code: "CONFIG_ENV_MISSING",
              fix: `export ${name}=… here, and in the environment \`opencode serve\` runs in`,
            })
          : check(
              `env:${name}`,
              "ok",
              `${reference} (${key}) is set in this shell; \`opencode serve\` needs it too`,
            ),
      );
      continue;
    }
    const target = resolveUserPath(name!, baseDir, env);
    const readable = await access(target, constants.R_OK).then(
      () => true,
      () => false,
    );
    checks.push(
      readable
        ? check(`file:${name}`, "ok", `${reference} (${key}): ${target} is readable`)
        : check(`file:${name}`, "fail", `${reference} (${key}): ${target} does not exist or cannot be read`, {
            fix: `create ${target} (readable by the user running \`opencode serve\`) or correct the reference`,
          }),
    );
  }
  return checks;
}

/** Token shape and per-kind keys: what loads fine and then fails every run. */
export function checkTarget(target: LoadedConfig["config"]["target"]): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const { token } = target;
  if (target.kind !== "webhook" && token === undefined) {
    checks.push(
      check("target.token", "fail", "target.token is not set: the gateway answers 401 to every callback", {
        code: "DELIVERY_UNAUTHORIZED",
        fix: 'set "token": "{env:OPENCLAW_HOOKS_TOKEN}" in target, and that variable to the gateway\'s hooks.token',
      }),
    );
  } else if (token !== undefined && /\s/.test(token)) {
    const where = /^\s|\s$/.test(token) ? "starts or ends with" : "contains";
    checks.push(
      check(
        "target.token",
        "fail",
        `target.token ${where} white space or a line break, which no gateway token has`,
        {
          code: "DELIVERY_UNAUTHORIZED",
          fix: 'remove it (a trailing newline often comes from `$(cat file)` or an editor): export VAR="$(printf %s "$VAR" | tr -d \'[:space:]\')"',
        },
      ),
    );
  } else if (token !== undefined) {
    checks.push(check("target.token", "ok", `target.token has a usable shape (${token.length} characters)`));
  }
  if (target.kind === "webhook") {
    const secrets = target.secret === undefined ? [] : [target.secret].flat();
    if (secrets.length === 0) {
      checks.push(
        check(
          "target.secret",
          "fail",
          "a webhook target needs target.secret: every callback would fail unsigned",
          {
            code: "CONFIG_INVALID",
            fix: 'set "secret": "{env:CALLBACK_WEBHOOK_SECRET}" (a whsec_<base64> Standard Webhooks secret)',
          },
        ),
      );
    }
    secrets.forEach((secret, i) => {
      try {
        webhookSecretKey(secret);
        checks.push(
          check(
            `target.secret[${i}]`,
            "ok",
            `target.secret${secrets.length > 1 ? `[${i}]` : ""} is a whsec_ secret`,
          ),
        );
      } catch {
        checks.push(
          check(
            `target.secret[${i}]`,
            "fail",
            `target.secret${secrets.length > 1 ? `[${i}]` : ""} is not a whsec_<base64> secret`,
            {
              code: "CONFIG_INVALID",
              fix: "use the receiver's Standard Webhooks secret as given, with its whsec_ prefix and no white space",
            },
          ),
        );
      }
    });
  }
  return checks;
}
