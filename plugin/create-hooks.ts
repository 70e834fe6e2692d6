import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Hooks, PluginInput } from "@opencode-ai/plugin";
import type { InstanceInfo, Schedule } from "../relay/index.ts";
import {
  AUDIT_KEY_FILE,
  createRelay,
  currentOwner,
  defaultAuditPath,
  defaultConfigDir,
  defaultStateDir,
  loadConfig,
  openAuditLog,
  openRunJournal,
  renewOwner,
  toRelayError,
} from "../relay/index.ts";
import { clientReader, createEventHook } from "./create-event-hook.ts";
import { createPromptHook } from "./create-prompt-hook.ts";
import { createRunJournaller } from "./create-run-journaller.ts";
import { type ReconcileReport, reconcileJournal } from "./reconcile-journal.ts";
import { rescanJournal } from "./rescan-journal.ts";

/** Not options: switches the plugin entry never sets, for the benchmarks' A/B runs. */
export interface HookInternals {
  /** Journal tagged runs at first sight (benchmarks turn it off for the baseline). @default true */
  journal?: boolean;
  /** Timer of the journal's periodic rescan (tests drive it by hand). @default an unref'd setTimeout */
  schedule?: Schedule;
}

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
 * audit log, create the relay, and in the background resume its outbox and reconcile the run
 * journal; return the hooks. Never throws and never waits on the network: a broken configuration
 * yields one `config_error` record and one stderr line, and hooks that only journal tagged runs
 * (each `held`, in the default state dir) until a restart with a fixed configuration delivers them.
 */
export async function createHooks(
  input: PluginInput,
  options: Record<string, unknown> | undefined,
  moduleUrl: string,
  internals: HookInternals = {},
): Promise<Hooks> {
  try {
    const env = process.env;
    const loaded = await loadConfig({ configDir: configDirOf(moduleUrl, env), env, options: options ?? {} });
    if (!loaded.ok) {
      const { error, file, auditPath, stateDir } = loaded;
      const key = `${auditPath}|${error.code}|${error.message}`;
      const heldAudit = openAuditLog({
        ...withFallback(auditPath, env),
        keyPath: join(stateDir, AUDIT_KEY_FILE),
      });
      if (!reportedConfigErrors.has(key)) {
        reportedConfigErrors.add(key);
        console.error(
          `opencode-callback-relay: disabled, tagged runs are held: ${error.code}: ${error.message} (${error.hint})`,
        );
        void heldAudit.append({
          phase: "config_error",
          code: error.code,
          reason: error.message,
          hint: error.hint,
          file,
          ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
        });
      }
      // Held, not lost: journal each tagged run where a fixed configuration's start will look.
      const heldDir = defaultStateDir(env);
      void renewOwner(heldDir);
      const journaller = createRunJournaller({
        journal: openRunJournal(heldDir),
        audit: heldAudit,
        directory: input.directory,
        worktree: input.worktree,
        held: error,
      });
      const reader = clientReader(input.client);
      const event = createEventHook({
        relay: null,
        audit: heldAudit,
        reader,
        worktree: input.worktree,
        onRunStart: journaller.start,
      });
      return { event, "chat.message": createPromptHook({ titleOf: event.titleOf, reader, journaller }) };
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
    // Held runs were journalled in the default state dir: it is reconciled (and retired from) too.
    const stateDirs = [...new Set([stateDir, defaultStateDir(env)])];
    const journals = stateDirs.map((dir) => openRunJournal(dir));
    const relay = createRelay({
      config,
      instance,
      audit,
      stateDir,
      onClaimed: (dedupeKey) => {
        for (const journal of journals) journal.retire(dedupeKey).catch(() => undefined);
      },
    });
    const reader = clientReader(input.client);
    void renewOwner(stateDir);
    const journaller = createRunJournaller({
      journal: journals[0] ?? openRunJournal(stateDir),
      audit,
      directory: input.directory,
      worktree: input.worktree,
    });
    const submittedBefore = new Set<string>();
    const failedBefore = new Set<string>();
    const reconcile = () =>
      reconcileJournal({
        stateDirs,
        directory: input.directory,
        worktree: input.worktree,
        reader,
        relay,
        audit,
        maxAgeMs: config.delivery.maxAgeMs,
        submittedBefore,
        failedBefore,
      });
    // In the background, once init has returned: the client's requests wait for this very instance.
    setTimeout(() => {
      relay
        .recover()
        .catch((error: unknown) =>
          console.error(`opencode-callback-relay: outbox recovery failed: ${String(error)}`),
        )
        .then(reconcile)
        .then((report) => reportReconciled("start-up", report))
        .catch((error: unknown) =>
          console.error(`opencode-callback-relay: run journal reconciliation failed: ${String(error)}`),
        )
        // Then again now and then: runs left to a live owner are taken over once it dies.
        .finally(() =>
          rescanJournal({
            reconcile,
            onReport: (report) => reportReconciled("rescan", report),
            ...(internals.schedule === undefined ? {} : { schedule: internals.schedule }),
          }),
        );
    }, 0);
    const event = createEventHook({
      relay,
      audit,
      reader,
      worktree: input.worktree,
      // A tagged run began: ready the relay's folders and audit head for its end, and journal it.
      onRunStart: (sessionId, pin, startedAt) => {
        relay.prepare();
        if (internals.journal !== false) journaller.start(sessionId, pin, startedAt);
      },
    });
    if (internals.journal === false) return { event };
    return { event, "chat.message": createPromptHook({ titleOf: event.titleOf, reader, journaller }) };
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

/**
 * One stderr line when a reconciliation found anything, so an operator watching OpenCode's output
 * sees runs resumed after a stop, and runs left to another live process running them (this
 * process's own runs in progress are not news).
 */
function reportReconciled(when: "start-up" | "rescan", report: ReconcileReport): void {
  const { submitted, expired, unreadable } = report;
  const me = currentOwner();
  const ownerAlive = report.ownerAlive.filter(
    (e) => !(e.owner.host === me.host && e.owner.pid === me.pid && e.owner.startTime === me.startTime),
  );
  if (submitted.length + expired.length + ownerAlive.length + unreadable.length === 0) return;
  const parts = [`${submitted.length} run(s) resumed from the journal`];
  if (expired.length > 0) parts.push(`${expired.length} too old to send (DELIVERY_EXPIRED)`);
  if (unreadable.length > 0) parts.push(`${unreadable.length} unreadable entries set aside`);
  if (ownerAlive.length > 0) {
    const owners = [...new Set(ownerAlive.map((e) => `pid ${e.owner.pid} on ${e.owner.host}`))].join(", ");
    parts.push(`${ownerAlive.length} left to their live owner (${owners})`);
  }
  console.error(`opencode-callback-relay: ${when}: ${parts.join("; ")}`);
}
