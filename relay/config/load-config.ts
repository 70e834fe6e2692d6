import { readFile } from "node:fs/promises";
import path from "node:path";
import { type ParseError, parse, printParseErrorCode, stripComments } from "jsonc-parser";
import { RelayError, toRelayError } from "../errors/index.ts";
import { checkTargetCredentials } from "./check-target-credentials.ts";
import { configSchema, type RelayConfig } from "./config-schema.ts";
import {
  CONFIG_FILE_NAME,
  defaultAuditPath,
  defaultConfigDir,
  defaultStateDir,
  resolveUserPath,
} from "./default-paths.ts";
import { isPlainObject, OPENCODE_ENVIRONMENT, substituteEnv } from "./substitute-env.ts";
import { substituteFiles } from "./substitute-file.ts";
import { targetSecrets } from "./target-secrets.ts";

type Env = Record<string, string | undefined>;

/** Configuration ready to use, with the paths it resolved and the values the audit log must redact. */
export interface LoadedConfig {
  /** Validated, defaults applied; `audit.path` and `stateDir` hold the resolved absolute paths. */
  config: RelayConfig;
  /** The file read, or null when the plugin options alone configured the relay. */
  file: string | null;
  auditPath: string;
  stateDir: string;
  /** Values that must never reach the audit log: every `{env:…}` value, target.token, target.secret. */
  secrets: string[];
}

export type LoadConfigResult =
  | { ok: true; value: LoadedConfig }
  | {
      ok: false;
      error: RelayError;
      file: string | null;
      /** Where the config_error record goes: the configured audit.path if it could be read, else the default. */
      auditPath: string;
      /** The configured stateDir if it could be read, else the default: where the audit key is. */
      stateDir: string;
    };

/** Points at the configuration file, overriding the config directory. */
export const CONFIG_ENV_VAR = "OPENCODE_CALLBACK_RELAY_CONFIG";

/**
 * Load the relay configuration. The file is `$OPENCODE_CALLBACK_RELAY_CONFIG` when set (it must
 * exist), else `<configDir>/callback-relay.jsonc`; `options` (the plugin tuple's options in
 * opencode.json) override it key by key (objects merged, arrays replaced), and configure the relay
 * alone when there is no file. The file's `{env:NAME}` and then `{file:PATH}` references are
 * substituted after parsing. Never throws: every failure is a result with a CONFIG_* code.
 *
 * @param opts.configDir @default defaultConfigDir(env)
 * @param opts.env @default process.env
 * @param opts.environment how messages name `env` (the CLI reads its shell's, not OpenCode's).
 *   @default OPENCODE_ENVIRONMENT
 */
export async function loadConfig(opts: {
  configDir?: string;
  env?: Env;
  options?: Record<string, unknown>;
  environment?: string;
}): Promise<LoadConfigResult> {
  const env = opts.env ?? process.env;
  const environment = opts.environment ?? OPENCODE_ENVIRONMENT;
  const options = opts.options ?? {};
  const configDir = opts.configDir ?? defaultConfigDir(env);
  const explicit = env[CONFIG_ENV_VAR];
  const file = explicit
    ? resolveUserPath(explicit, process.cwd(), env)
    : path.join(configDir, CONFIG_FILE_NAME);
  // Relative paths in options (no file of their own) resolve where the file would have been.
  const baseDir = path.dirname(file);
  // The best tree known so far, to find audit.path for a config_error record.
  let known: unknown = options;
  let fileUsed: string | null = null;

  try {
    const text = await readText(file);
    let fromFile: unknown = {};
    if (text === null) {
      if (explicit || Object.keys(options).length === 0) {
        throw new RelayError(
          "CONFIG_NOT_FOUND",
          explicit
            ? `${file} does not exist (named by ${CONFIG_ENV_VAR}): create it or unset the variable`
            : `no configuration: ${file} does not exist and the plugin has no options in opencode.json`,
          { details: { file } },
        );
      }
    } else {
      fileUsed = file;
      const parsed = parseJsonc(text, file);
      known = deepMerge(parsed, options);
      fromFile = parsed;
    }
    const fromEnv = substituteEnv(fromFile, env, file, environment);
    const fromFiles = substituteFiles(fromEnv.value, baseDir, env, file);
    const secrets = [...fromEnv.secrets, ...fromFiles.secrets];
    const merged = deepMerge(fromFiles.value, options);
    known = merged;
    const config = validate(merged, fileUsed, options);
    checkTargetCredentials(config.target, fileUsed);
    const auditPath = config.audit.path
      ? resolveUserPath(config.audit.path, baseDir, env)
      : defaultAuditPath(env);
    const stateDir = config.stateDir ? resolveUserPath(config.stateDir, baseDir, env) : defaultStateDir(env);
    config.audit.path = auditPath;
    config.stateDir = stateDir;
    return {
      ok: true,
      value: { config, file: fileUsed, auditPath, stateDir, secrets: collectSecrets(secrets, config) },
    };
  } catch (caught) {
    const error = toRelayError(caught);
    const aboutFile = error.code === "CONFIG_NOT_FOUND" || error.code === "CONFIG_UNREADABLE";
    return {
      ok: false,
      error,
      file: fileUsed ?? (aboutFile ? file : null),
      auditPath: auditPathOf(known, baseDir, env),
      stateDir: stateDirOf(known, baseDir, env),
    };
  }
}

/** The file's text, or null when it does not exist. */
async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new RelayError("CONFIG_UNREADABLE", `${file} cannot be read (${code ?? String(error)})`, {
      cause: error,
      details: { file, errno: code },
    });
  }
}

function parseJsonc(text: string, file: string): Record<string, unknown> {
  const source = text.startsWith("\uFEFF") ? text.slice(1) : text;
  // A file holding only comments is an empty configuration, not a syntax error.
  if (stripComments(source).trim() === "") return {};
  const errors: ParseError[] = [];
  const value: unknown = parse(source, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const all = errors.map((e) => `${printParseErrorCode(e.error)} at ${lineColumn(source, e.offset)}`);
    const { line, column } = position(source, first.offset);
    throw new RelayError("CONFIG_PARSE", `${file}:${line}:${column}: not valid JSONC: ${all.join("; ")}`, {
      details: { file, line, column, offset: first.offset, error: printParseErrorCode(first.error) },
    });
  }
  if (!isPlainObject(value)) {
    throw new RelayError("CONFIG_INVALID", `${file}: the configuration must be a JSON object`, {
      details: { file, key: "" },
    });
  }
  return value;
}

/** CONFIG_INVALID listing every zod issue as `key: what was expected`, naming where the key came from. */
function validate(merged: unknown, file: string | null, options: Record<string, unknown>): RelayConfig {
  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((issue) => {
    const key = keyPath(issue.path);
    const from = hasPath(options, issue.path) || file === null ? "plugin options" : file;
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => ({
        key: key ? `${key}.${k}` : k,
        from: hasPath(options, [...issue.path, k]) || file === null ? "plugin options" : file,
        message: "unknown key (check its spelling)",
      }));
    }
    return [{ key: key || "(root)", from, message: issue.message }];
  });
  const listed = issues.map((i) => `${i.key} (in ${i.from}): ${i.message}`).join("; ");
  throw new RelayError("CONFIG_INVALID", `invalid configuration: ${listed}`, {
    details: { file, key: issues[0]?.key ?? "", issues },
  });
}

function hasPath(tree: unknown, segments: readonly PropertyKey[]): boolean {
  let node = tree;
  for (const segment of segments) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, segment)) return false;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return segments.length > 0;
}

/** `target.url`, `callbackSessionPrefixes[0]`. */
function keyPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}

/** File values are the base; options win. Objects merge recursively, arrays and scalars replace. */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(over)) return over === undefined ? copy(base) : over;
  if (!isPlainObject(base)) return copy(over);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(base)) if (key !== "__proto__") out[key] = copy(value);
  for (const [key, value] of Object.entries(over)) {
    if (key === "__proto__" || value === undefined) continue;
    out[key] = deepMerge(out[key], value);
  }
  return out;
}

/** Own keys only: a parsed `__proto__` key must not smuggle inherited values into validation. */
function copy(value: unknown): unknown {
  return isPlainObject(value) ? deepMerge({}, value) : value;
}

function collectSecrets(fromEnv: string[], config: RelayConfig): string[] {
  return [...new Set([...fromEnv, ...targetSecrets(config.target)])].filter((s) => s !== "");
}

/** audit.path from whatever was read, when it is usable without the rest of the configuration. */
function auditPathOf(tree: unknown, baseDir: string, env: Env): string {
  const audit = isPlainObject(tree) ? tree.audit : undefined;
  return usablePath(isPlainObject(audit) ? audit.path : undefined, baseDir, env) ?? defaultAuditPath(env);
}

/** stateDir from whatever was read, likewise (the audit key lives there). */
function stateDirOf(tree: unknown, baseDir: string, env: Env): string {
  return usablePath(isPlainObject(tree) ? tree.stateDir : undefined, baseDir, env) ?? defaultStateDir(env);
}

function usablePath(configured: unknown, baseDir: string, env: Env): string | undefined {
  if (typeof configured !== "string" || configured === "") return undefined;
  try {
    const withEnv = substituteEnv(configured, env, "").value;
    const value = substituteFiles(withEnv, baseDir, env, "").value as string;
    return value === "" ? undefined : resolveUserPath(value, baseDir, env);
  } catch {
    return undefined;
  }
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

function lineColumn(text: string, offset: number): string {
  const { line, column } = position(text, offset);
  return `line ${line}, column ${column}`;
}
