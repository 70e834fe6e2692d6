import { join } from "node:path";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { pendingOutboxFiles } from "../helpers/pending-outbox-files.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";

/**
 * One end-to-end world per test file: a fake model, a recording receiver and a real
 * `opencode serve` with the plugin bundle installed (built from the current sources by
 * test/build-setup.ts). Each case makes its own sessions.
 */

/** The bearer token the relay reads through `{env:OCR_E2E_TOKEN}`. */
export const E2E_TOKEN = "e2e-secret-token-0123456789";

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

/**
 * Retries for the tests that stop a server while an attempt is in flight: the attempt's timeout is
 * far past the test, so it is still in flight when its process dies.
 */
export const HELD_ATTEMPT_DELIVERY = {
  timeoutMs: 60_000,
  maxAttempts: 3,
  initialDelayMs: 200,
  maxDelayMs: 500,
} as const;

/**
 * Another `opencode serve` on an earlier server's root (same HOME, data, project, plugin and relay
 * configuration), with the token set, and its plugin started (it starts with the directory's first
 * request). The earlier server owns the root; stop this one first.
 */
export async function startOnRoot(root: string, model: FakeModel): Promise<OpencodeServer> {
  const server = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    root,
    env: { OCR_E2E_TOKEN: E2E_TOKEN },
  });
  await server.request("GET", "/session");
  return server;
}

export interface E2EWorld {
  model: FakeModel;
  receiver: RecordingReceiver;
  server: OpencodeServer;
  /** The relay's default audit path inside the server's isolated XDG_DATA_HOME. */
  auditPath: string;
  /** The relay's default stateDir inside the server's isolated XDG_STATE_HOME. */
  stateDir: string;
  /** Every audit record so far (every line must parse as JSON). */
  audit(): AuditRecord[];
  /** Resolves with the matching records once `count` of them exist (rejects after `timeoutMs`). */
  waitForAudit(
    match: (record: AuditRecord) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<AuditRecord[]>;
  /**
   * Resolves once the relay's outbox holds nothing to send (see pendingOutboxFiles): from then on
   * a callback that has not arrived never will, so absences can be asserted.
   */
  outboxSettled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWorld(
  options: {
    relayConfig?: (receiverUrl: string) => string | object | null;
    /** More environment for the server. */
    env?: Record<string, string>;
  } = {},
): Promise<E2EWorld> {
  const model = await startFakeModel();
  const receiver = await startRecordingReceiver();
  let server: OpencodeServer;
  try {
    server = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      relayConfig: options.relayConfig ? options.relayConfig(receiver.url) : relayConfigFor(receiver.url),
      env: { OCR_E2E_TOKEN: E2E_TOKEN, ...options.env },
    });
  } catch (error) {
    await Promise.all([model.close(), receiver.close()]);
    throw error;
  }
  const auditPath = join(server.dataHome, "opencode-callback-relay", "audit.jsonl");
  const stateDir = join(server.stateHome, "opencode-callback-relay");
  const audit = (): AuditRecord[] => readAuditRecords(auditPath);
  /** The wait's failure says what the log and the server said. */
  const explain = (error: unknown) =>
    new Error(
      `${String(error)}\n--- audit ---\n${JSON.stringify(audit(), null, 1).slice(0, 4_000)}\n--- server output ---\n${server.output().slice(-4_000)}`,
    );
  return {
    model,
    receiver,
    server,
    auditPath,
    stateDir,
    audit,
    async waitForAudit(match, count = 1, timeoutMs = 30_000) {
      return waitFor(
        `${count} matching audit record(s)`,
        () => {
          const found = audit().filter(match);
          return found.length >= count ? found : undefined;
        },
        timeoutMs,
      ).catch((error: unknown) => {
        throw explain(error);
      });
    },
    async outboxSettled(timeoutMs = 30_000) {
      await waitFor(
        "the outbox to hold nothing to send",
        () => (pendingOutboxFiles(stateDir).length === 0 ? true : undefined),
        timeoutMs,
      ).catch((error: unknown) => {
        throw explain(error);
      });
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
