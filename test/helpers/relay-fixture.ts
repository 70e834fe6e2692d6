import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AUDIT_KEY_FILE } from "../../relay/audit/audit-key.ts";
import { type AuditLog, openAuditLog } from "../../relay/audit/audit-log.ts";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import type { InstanceInfo, TerminalRun } from "../../relay/callback/terminal-run.ts";
import { configSchema, type RelayConfig, type RelayConfigInput } from "../../relay/config/config-schema.ts";
import { createRelay, type Relay, type RelayOptions } from "../../relay/core/create-relay.ts";
import { buildTitle } from "../../relay/title/build-title.ts";
import type { TitleTags } from "../../relay/title/title-tags.ts";
import { sinkAudit } from "./audit-sink.ts";
import { type RecordingReceiver, type Responder, startRecordingReceiver } from "./recording-receiver.ts";

/** A token that must never appear in an audit line or an outbox file. */
export const TOKEN = "tok-SECRET-4f1e9a7c";

export const INSTANCE: InstanceInfo = { projectId: "proj-1", worktree: "/srv/proj", directory: "/srv/proj" };

/** A tagged terminal run; `runId` picks the run, `tags` and `run` override the defaults. */
export function makeRun(runId: string, options: { tags?: TitleTags; run?: Partial<TerminalRun> } = {}) {
  const title = buildTitle(`task ${runId}`, {
    runId,
    taskId: `T-${runId}`,
    requested: "coder",
    resolved: "coder",
    callbackSession: "agent:main:main",
    ...options.tags,
  });
  const run: TerminalRun = {
    sessionId: `ses_${runId}`,
    pinnedTitle: title,
    currentTitle: title,
    outcome: "completed",
    agentRan: "coder",
    summary: "All done.",
    filesChanged: ["src/a.ts"],
    startedAt: 1_000,
    endedAt: 4_000,
    ...options.run,
  };
  return run;
}

export interface RelayFixture {
  dir: string;
  stateDir: string;
  auditPath: string;
  receiver: RecordingReceiver;
  audit: AuditLog;
  config: RelayConfig;
  /** Every audit line, each parsed as JSON (a line that does not parse fails the test). */
  records(): Promise<AuditRecord[]>;
  cleanup(): Promise<void>;
}

/** A temp dir, a real receiver on port 0, a real audit log, and a parsed config pointing at them. */
export async function relayFixture(
  options: {
    responder?: Responder;
    config?: Partial<RelayConfigInput>;
    delivery?: RelayConfigInput["delivery"];
  } = {},
): Promise<RelayFixture> {
  const dir = await mkdtemp(join(tmpdir(), "ocr-relay-"));
  const receiver = await startRecordingReceiver(options.responder);
  const auditPath = join(dir, "audit.jsonl");
  // Keyed like the plugin's log (audit.key in the state dir), so the CLI, which keys its records
  // with the same key, continues one verifiable chain.
  const audit = openAuditLog({
    path: auditPath,
    secrets: [TOKEN],
    keyPath: join(dir, "state", AUDIT_KEY_FILE),
  });
  const config = configSchema.parse({
    target: { url: `${receiver.url}/hooks`, token: TOKEN },
    delivery: { initialDelayMs: 10, maxDelayMs: 50, timeoutMs: 2_000, ...options.delivery },
    ...options.config,
  });
  return {
    dir,
    stateDir: join(dir, "state"),
    auditPath,
    receiver,
    audit,
    config,
    async records() {
      await audit.flush();
      const text = await readFile(auditPath, "utf8").catch(() => "");
      return text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as AuditRecord);
    },
    async cleanup() {
      await audit.flush().catch(() => undefined);
      await receiver.close();
      try {
        await sinkAudit(auditPath, { TOKEN });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Records of one phase. */
export function phase(records: AuditRecord[], name: AuditRecord["phase"]): AuditRecord[] {
  return records.filter((record) => record.phase === name);
}

/** A relay on the fixture's configuration, audit log and state dir; `extra` adds or overrides options. */
export function relayOn(fx: RelayFixture, extra: Partial<RelayOptions> = {}): Relay {
  return createRelay({
    config: fx.config,
    instance: INSTANCE,
    audit: fx.audit,
    stateDir: fx.stateDir,
    ...extra,
  });
}

/** What `redeliver` needs to find `runId`'s callback in the fixture's state and log. */
export function redeliverOptions(fx: RelayFixture, runId: string) {
  return { config: fx.config, stateDir: fx.stateDir, audit: fx.audit, auditPath: fx.auditPath, runId };
}
