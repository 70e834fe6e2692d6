import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Hooks, PluginInput } from "@opencode-ai/plugin";
import type { InstanceInfo } from "../relay/index.ts";
import {
  AUDIT_KEY_FILE,
  createRelay,
  defaultAuditPath,
  defaultConfigDir,
  loadConfig,
  openAuditLog,
  toRelayError,
} from "../relay/index.ts";
import { clientReader, createEventHook } from "./create-event-hook.ts";
import { findInterrupted } from "./find-interrupted.ts";

/** Hooks that do nothing: what the plugin returns when it cannot work. */
const INERT: Hooks = {};

/**
 * Config errors already reported by this process. OpenCode starts one plugin instance per
 * served directory and module state is shared by all of them: one record per distinct error.
 */
const reportedConfigErrors = new Set<string>();

/**
 * The OpenCode config directory this plugin was installed into: OpenCode loads
 * `<configDir>/plugins/opencode-callback-relay.js` (or `plugin/`), so it is the folder above the
 * bundle's. Loaded any other way (an npm name, a path elsewhere), the default config dir.
 */
export function configDirOf(moduleUrl: string, env: Record<string, string | undefined>): string {
  try {
    const here = dirname(fileURLToPath(moduleUrl));
    const folder = basename(here);
    if (folder === "plugins" || folder === "plugin") return dirname(here);
  } catch {
    // Not a file URL: fall through.
  }
  return defaultConfigDir(env);
}

/**
 * Plugin init: load the configuration (the plugin tuple's options on top of the file), open the
 * audit log, create the relay and resume its outbox in the background, and return the hooks.
 * Never throws and never waits on the network: a broken configuration yields one `config_error`
 * record, one stderr line, and hooks that do nothing, so OpenCode itself is unaffected.
 */
export async function createHooks(
  input: PluginInput,
  options: Record<string, unknown> | undefined,
  moduleUrl: string,
): Promise<Hooks> {
  try {
    const since = Date.now();
    const env = process.env;
    const loaded = await loadConfig({ configDir: configDirOf(moduleUrl, env), env, options: options ?? {} });
    if (!loaded.ok) {
      const { error, file, auditPath, stateDir } = loaded;
      const key = `${auditPath}|${error.code}|${error.message}`;
      if (!reportedConfigErrors.has(key)) {
        reportedConfigErrors.add(key);
        console.error(`opencode-callback-relay: disabled: ${error.code}: ${error.message} (${error.hint})`);
        void openAuditLog({
          ...withFallback(auditPath, env),
          keyPath: join(stateDir, AUDIT_KEY_FILE),
        }).append({
          phase: "config_error",
          code: error.code,
          reason: error.message,
          hint: error.hint,
          file,
          ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
        });
      }
      return INERT;
    }
    const { config, auditPath, stateDir, secrets } = loaded.value;
    const audit = openAuditLog({
      ...withFallback(auditPath, env),
      maxBytes: config.audit.maxBytes,
      secrets,
      keyPath: join(stateDir, AUDIT_KEY_FILE),
    });
    const instance: InstanceInfo = {
      projectId: input.project?.id ?? "global",
      worktree: input.worktree,
      directory: input.directory,
      serverUrl: String(input.serverUrl),
    };
    const relay = createRelay({ config, instance, audit, stateDir });
    const reader = clientReader(input.client);
    // In the background, once init has returned: the client's requests wait for this very instance.
    setTimeout(() => {
      relay
        .recover()
        .catch((error: unknown) =>
          console.error(`opencode-callback-relay: outbox recovery failed: ${String(error)}`),
        )
        .then(() =>
          findInterrupted({ list: reader.list, messages: reader.messages, since, worktree: input.worktree }),
        )
        .then((runs) => {
          for (const run of runs) relay.submit(run);
        })
        .catch((error: unknown) =>
          console.error(`opencode-callback-relay: interrupted-run scan failed: ${String(error)}`),
        );
    }, 0);
    const event = createEventHook({ relay, audit, reader, worktree: input.worktree });
    return { event };
  } catch (error) {
    const err = toRelayError(error);
    console.error(`opencode-callback-relay: disabled: ${err.code}: ${err.message}`);
    return INERT;
  }
}

/** An audit log at `path` that falls back to the default path when `path` cannot be written. */
function withFallback(
  path: string,
  env: Record<string, string | undefined>,
): { path: string; fallbackPath?: string } {
  const fallback = defaultAuditPath(env);
  return fallback === path ? { path } : { path, fallbackPath: fallback };
}
