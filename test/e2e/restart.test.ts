import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";
import { E2E_TOKEN, relayConfigFor, startOnRoot } from "./e2e-context.ts";

/**
 * `opencode serve` is killed with SIGKILL while one callback waits in the outbox for a retry and
 * another session is mid-turn; a new server on the same data then delivers the pending callback
 * once (same idempotency key) and reports the cut-off turn as `interrupted`.
 */

const PENDING = "agent:main:e2e-pending";
const CUT_OFF = "agent:main:e2e-interrupted";
const LATER = "agent:main:e2e-after-restart";

let model: FakeModel;
let receiver: RecordingReceiver;
let first: OpencodeServer;
let second: OpencodeServer | undefined;
let crashed = false;

const auditOf = (server: OpencodeServer): AuditRecord[] =>
  readAuditRecords(join(server.dataHome, "opencode-callback-relay", "audit.jsonl"));

const sessionKeyOf = (json: unknown) => (json as { sessionKey?: string } | undefined)?.sessionKey;

beforeAll(async () => {
  model = await startFakeModel();
  // Until the crash the caller session is busy (503, retry in 3 s); afterwards every call succeeds.
  receiver = await startRecordingReceiver((request) =>
    !crashed && sessionKeyOf(request.json) === PENDING
      ? { status: 503, headers: { "retry-after": "3" }, body: "busy" }
      : { status: 200, body: "{}" },
  );
  first = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    relayConfig: relayConfigFor(receiver.url, {
      delivery: {
        timeoutMs: 2_000,
        maxAttempts: 5,
        initialDelayMs: 200,
        maxDelayMs: 10_000,
        maxAgeMs: 60_000,
      },
    }),
    env: { OCR_E2E_TOKEN: E2E_TOKEN },
  });
});

afterAll(async () => {
  try {
    // Both servers wrote one log in the shared data dir: into the suite-wide audit check.
    if (first) await sinkAudit(join(first.dataHome, "opencode-callback-relay", "audit.jsonl"), { E2E_TOKEN });
  } finally {
    await second?.stop();
    await first?.stop(); // owns the shared root: removes it
    await Promise.all([model?.close(), receiver?.close()]);
  }
});

it("delivers the pending callback once after a crash, and reports the cut-off turn as interrupted", async () => {
  const pending = await first.createSession(`Pending runId=run-pending callbackSession=${PENDING}`);
  await first.prompt(pending.id, "hello");
  await waitFor("the retry to be scheduled", () =>
    auditOf(first).find((r) => r.sessionId === pending.id && r.phase === "retry_scheduled"),
  );

  const cutOff = await first.createSession(`Cut off runId=run-cut callbackSession=${CUT_OFF}`);
  const asked = model.requests.length;
  await first.promptAsync(cutOff.id, "[[fake:hang]]");
  await waitFor("the model to be streaming", () =>
    model.requests.slice(asked).some((r) => r.lastUserText.includes("[[fake:hang]]")) ? true : undefined,
  );

  // Created before the crash, prompted after it: the new plugin instance never saw its creation.
  const later = await first.createSession(`Later runId=run-later callbackSession=${LATER}`);

  await first.kill9();
  crashed = true;
  second = await startOnRoot(first.root, model);

  const server = second;
  await waitFor("the pending callback to be delivered", () =>
    auditOf(server).find((r) => r.sessionId === pending.id && r.phase === "delivered"),
  );
  const phases = auditOf(server)
    .filter((r) => r.sessionId === pending.id)
    .map((r) => r.phase);
  expect(phases).toContain("recovered");
  expect(phases.filter((p) => p === "accepted")).toHaveLength(1);
  expect(phases.filter((p) => p === "delivered")).toHaveLength(1);
  const toPending = receiver.requests.filter((r) => sessionKeyOf(r.json) === PENDING);
  expect(new Set(toPending.map((r) => r.headers["idempotency-key"])).size).toBe(1);

  const [interrupted] = await waitFor("the interrupted callback", () => {
    const found = receiver.requests.filter((r) => sessionKeyOf(r.json) === CUT_OFF);
    return found.length > 0 ? found : undefined;
  });
  const message = (interrupted?.json as { message?: string } | undefined)?.message ?? "";
  const routing = /```json\n([\s\S]*?)\n```/.exec(message)?.[1];
  expect(JSON.parse(routing ?? "{}")).toMatchObject({ outcome: "interrupted", opencodeSessionId: cutOff.id });
  // Audit appends are not awaited before the attempt: the record may land after the callback.
  const accepted = await waitFor("the interrupted run's accepted record", () =>
    auditOf(server).find((r) => r.sessionId === cutOff.id && r.phase === "accepted"),
  );
  expect(accepted.outcome).toBe("interrupted");

  await server.prompt(later.id, "hello");
  await waitFor("the callback of a session created before the restart", () =>
    receiver.requests.find((r) => sessionKeyOf(r.json) === LATER),
  );
});
