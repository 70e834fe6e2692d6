import os from "node:os";
import path from "node:path";

/** The configuration file looked for in the OpenCode config directory. */
export const CONFIG_FILE_NAME = "callback-relay.jsonc";

const APP_DIR = "opencode-callback-relay";

type Env = Record<string, string | undefined>;

/**
 * The OpenCode config directory: `$XDG_CONFIG_HOME/opencode`, else `~/.config/opencode`
 * (OpenCode uses the XDG layout on every platform, macOS included).
 */
export function defaultConfigDir(env: Env): string {
  return path.join(xdgDir(env, "XDG_CONFIG_HOME", [".config"]), "opencode");
}

/** The audit log: `$XDG_DATA_HOME/opencode-callback-relay/audit.jsonl`, else `~/.local/share/…`. */
export function defaultAuditPath(env: Env): string {
  return path.join(xdgDir(env, "XDG_DATA_HOME", [".local", "share"]), APP_DIR, "audit.jsonl");
}

/** Outbox and dedupe state: `$XDG_STATE_HOME/opencode-callback-relay`, else `~/.local/state/…`. */
export function defaultStateDir(env: Env): string {
  return path.join(xdgDir(env, "XDG_STATE_HOME", [".local", "state"]), APP_DIR);
}

/** The home directory: `env.HOME` when set, else the OS account's. */
export function homeDir(env: Env): string {
  return env.HOME || os.homedir();
}

/**
 * Expand a leading `~` or `~/` to the home directory, then resolve a relative path against
 * `baseDir`. `~user` forms are not expanded (no portable way to look them up).
 */
export function resolveUserPath(p: string, baseDir: string, env: Env): string {
  if (p === "~") return homeDir(env);
  if (p.startsWith("~/")) return path.resolve(homeDir(env), p.slice(2));
  return path.resolve(baseDir, p);
}

function xdgDir(env: Env, name: string, fallback: string[]): string {
  const value = env[name];
  // The XDG spec says relative values are invalid and must be ignored.
  if (value && path.isAbsolute(value)) return value;
  return path.join(homeDir(env), ...fallback);
}
