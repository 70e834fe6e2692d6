import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import {
  DEFAULT_BUNDLE,
  type OpencodeServer,
  startOpencodeServer,
} from "../../scripts/dev/opencode-server.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";

/**
 * One end-to-end world per test file: a fake model, a recording receiver and a real
 * `opencode serve` with the built plugin bundle installed. Each case makes its own sessions.
 */

/** The bearer token the relay reads through `{env:OCR_E2E_TOKEN}`. */
export const E2E_TOKEN = "e2e-secret-token-0123456789";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
let built = false;

/**
 * Build the plugin bundle with `node scripts/build.mjs`, once per test file's process. Other
 * entries of the build may fail while they are being written; only the plugin bundle matters here.
 */
export function buildBundle(): void {
  if (built) return;
  const startedAt = Date.now();
  try {
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: repoRoot, stdio: "pipe" });
  } catch (error) {
    const fresh = statSync(DEFAULT_BUNDLE, { throwIfNoEntry: false });
    if (!fresh || fresh.mtimeMs < startedAt - 1_000) throw error;
  }
  built = true;
}

/** The relay configuration the suite uses: fast retries, the token from the environment. */
export function relayConfigFor(
  receiverUrl: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    target: { kind: "openclaw-agent", url: `${receiverUrl}/hooks`, token: "{env:OCR_E2E_TOKEN}" },
    callbackSessionPrefixes: ["agent:main:"],
    delivery: { timeoutMs: 2_000, maxAttempts: 2, initialDelayMs: 200, maxDelayMs: 500, maxAgeMs: 30_000 },
    ...overrides,
  };
}

export interface E2EWorld {
  model: FakeModel;
  receiver: RecordingReceiver;
  server: OpencodeServer;
  /** The relay's default audit path inside the server's isolated XDG_DATA_HOME. */
  auditPath: string;
  /** Every audit record so far (every line must parse as JSON). */
  audit(): AuditRecord[];
  /** Resolves with the matching records once `count` of them exist (rejects after `timeoutMs`). */
  waitForAudit(
    match: (record: AuditRecord) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export async function startWorld(
  options: { relayConfig?: (receiverUrl: string) => string | object | null } = {},
): Promise<E2EWorld> {
  buildBundle();
  const model = await startFakeModel();
  const receiver = await startRecordingReceiver();
  let server: OpencodeServer;
  try {
    server = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      relayConfig: options.relayConfig ? options.relayConfig(receiver.url) : relayConfigFor(receiver.url),
      env: { OCR_E2E_TOKEN: E2E_TOKEN },
    });
  } catch (error) {
    await Promise.all([model.close(), receiver.close()]);
    throw error;
  }
  const auditPath = join(server.dataHome, "opencode-callback-relay", "audit.jsonl");
  const audit = (): AuditRecord[] => readAuditRecords(auditPath);
  return {
    model,
    receiver,
    server,
    auditPath,
    audit,
    async waitForAudit(match, count = 1, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = audit().filter(match);
        if (found.length >= count) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `audit has ${found.length} of ${count} matching records after ${timeoutMs} ms:\n${JSON.stringify(audit(), null, 1).slice(0, 4_000)}\n--- server output ---\n${server.output().slice(-4_000)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async close() {
      try {
        // Before stop(), which removes the data dir; the world is quiet by now.
        await sinkAudit(auditPath, { E2E_TOKEN });
      } finally {
        await server.stop();
        await Promise.all([model.close(), receiver.close()]);
      }
    },
  };
}

/** Records of one session, in order. */
export function forSession(records: AuditRecord[], sessionId: string): AuditRecord[] {
  return records.filter((r) => r.sessionId === sessionId);
}

/** Wait a fixed time: only to show that something does NOT happen (kept short). */
export function settleTime(ms = 1_500): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
