import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { pendingOutboxFiles } from "../helpers/pending-outbox-files.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";
import { E2E_TOKEN, relayConfigFor } from "./e2e-context.ts";

/**
 * Several `opencode serve` processes on one project, one OpenCode data dir and one relay state dir
 * (DESIGN.md "Terminal runs and dedupe": at most one callback per run across "two processes
 * sharing one state directory"). Sharing OpenCode's storage is what makes two plugins react to the
 * same run: each one, at start-up, resumes the shared outbox and scans the shared sessions for
 * turns cut off by a crash. So the processes start on the first one's root (harness `root`), and
 * the relay's stateDir and audit path are named explicitly, outside every root, for all of them.
 * Each test makes its own world and closes it, so no case depends on another having run.
 */
export interface SharedDataWorld {
  model: FakeModel;
  receiver: RecordingReceiver;
  /** The server that made the shared root (the one a crash test kills). */
  first: OpencodeServer;
  /** 2xx answers per idempotency key: "delivered" as the receiver saw it. */
  delivered: Map<string, number>;
  /** While false the receiver answers 503 (the caller session is busy); then 200. */
  receiverUp: boolean;
  auditPath: string;
  /** Another server on the first one's root (same HOME, XDG dirs, project, plugin and relay config). */
  startOnSharedRoot(): Promise<OpencodeServer>;
  /** Every record of the shared audit log (each line must parse as JSON). */
  audit(): AuditRecord[];
  /** Records of one session, in order. */
  ofSession(sessionId: string): AuditRecord[];
  /** Resolves once no relay on the shared state has anything left to send (pendingOutboxFiles). */
  outboxSettled(): Promise<void>;
  close(): Promise<void>;
}

/** Start a fake model, a receiver and the first server of a shared-data world. */
export async function startSharedDataWorld(options: { receiverUp: boolean }): Promise<SharedDataWorld> {
  const shared = await mkdtemp(join(tmpdir(), "ocr-two-servers-"));
  const auditPath = join(shared, "audit.jsonl");
  const stateDir = join(shared, "state");
  const delivered = new Map<string, number>();
  const later: OpencodeServer[] = [];
  let model: FakeModel | undefined;
  let receiver: RecordingReceiver | undefined;
  let first: OpencodeServer | undefined;

  const close = async () => {
    try {
      // Several servers wrote one log: into the suite-wide audit check.
      await sinkAudit(auditPath, { E2E_TOKEN });
    } finally {
      for (const server of later.splice(0)) await server.stop();
      await first?.stop(); // owns the shared root: removes it
      await Promise.all([model?.close(), receiver?.close()]);
      await rm(shared, { recursive: true, force: true });
    }
  };

  try {
    model = await startFakeModel();
    const world = { receiverUp: options.receiverUp };
    receiver = await startRecordingReceiver((request) => {
      if (!world.receiverUp) return { status: 503, headers: { "retry-after": "1" }, body: "busy" };
      const key = String(request.headers["idempotency-key"]);
      delivered.set(key, (delivered.get(key) ?? 0) + 1);
      return { status: 200, body: "{}" };
    });
    first = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      relayConfig: relayConfigFor(receiver.url, {
        stateDir,
        audit: { path: auditPath },
        delivery: {
          timeoutMs: 2_000,
          maxAttempts: 100,
          initialDelayMs: 300,
          maxDelayMs: 1_000,
          maxAgeMs: 300_000,
        },
      }),
      env: { OCR_E2E_TOKEN: E2E_TOKEN },
    });
    const root = first.root;
    const fakeModel = model;
    const audit = () => readAuditRecords(auditPath);
    return Object.assign(world, {
      model,
      receiver,
      first,
      delivered,
      auditPath,
      async startOnSharedRoot() {
        // bundlePath null: keep the installed bundle rather than rewrite it under a running server.
        const server = await startOpencodeServer({
          modelBaseURL: fakeModel.baseURL,
          root,
          bundlePath: null,
          env: { OCR_E2E_TOKEN: E2E_TOKEN },
        });
        later.push(server);
        return server;
      },
      audit,
      ofSession: (sessionId: string) => audit().filter((r) => r.sessionId === sessionId),
      async outboxSettled() {
        await waitFor(
          "the shared outbox to hold nothing to send",
          () => (pendingOutboxFiles(stateDir).length === 0 ? true : undefined),
          60_000,
        );
      },
      close,
    });
  } catch (error) {
    await close();
    throw error;
  }
}

/** How many of `records` are in `phase`. */
export const count = (records: AuditRecord[], phase: AuditRecord["phase"]): number =>
  records.filter((r) => r.phase === phase).length;
