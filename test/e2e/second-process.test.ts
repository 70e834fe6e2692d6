import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";
import { buildBundle, E2E_TOKEN, relayConfigFor, settleTime } from "./e2e-context.ts";

/**
 * A second OpenCode process on the same data while the first runs a turn (the TUI opened in a
 * project `opencode serve` is working in, the plugin installed globally). The second plugin's
 * start-up reconciliation finds the run in the journal, sees its owner alive, and leaves it: the
 * first process calls back once, `completed`. Before the journal, the second process reported the
 * live turn `interrupted` and that report won the claim.
 */

const CALLER = "agent:main:e2e-second-process";

let model: FakeModel;
let receiver: RecordingReceiver;
let first: OpencodeServer;
let second: OpencodeServer | undefined;

const audit = (): AuditRecord[] =>
  readAuditRecords(join(first.dataHome, "opencode-callback-relay", "audit.jsonl"));
const ofSession = (id: string) => audit().filter((r) => r.sessionId === id);

beforeAll(async () => {
  buildBundle();
  model = await startFakeModel();
  receiver = await startRecordingReceiver();
  first = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    relayConfig: relayConfigFor(receiver.url),
    env: { OCR_E2E_TOKEN: E2E_TOKEN },
  });
});

afterAll(async () => {
  try {
    if (first) await sinkAudit(join(first.dataHome, "opencode-callback-relay", "audit.jsonl"), { E2E_TOKEN });
  } finally {
    await second?.stop();
    await first?.stop(); // owns the root: removes it
    await Promise.all([model?.close(), receiver?.close()]);
  }
});

it("a live turn in one process, a second process started on the same data: one callback, completed", async () => {
  const live = await first.createSession(`Live runId=run-live callbackSession=${CALLER}`);
  const turn = first.prompt(live.id, "[[fake:text chunks=300 delay=50]]", 60_000); // ~15 s of streaming
  const journal = join(first.stateHome, "opencode-callback-relay", "journal");
  await waitFor("the live run to be journalled", () => {
    try {
      return readdirSync(journal).some((n) => n.endsWith(".json")) ? true : undefined;
    } catch {
      return undefined;
    }
  });

  // bundlePath null: keep the installed bundle rather than rewrite it under a running server.
  second = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    root: first.root,
    bundlePath: null,
    env: { OCR_E2E_TOKEN: E2E_TOKEN },
  });
  await second.request("GET", "/session"); // its plugin starts and reconciles the journal
  // The second plugin is up and working: its own run calls back (so its start-up scan is done).
  const own = await second.createSession(`Own runId=run-own callbackSession=${CALLER}`);
  await second.prompt(own.id, "hello");
  await waitFor("the second process's own callback", () =>
    ofSession(own.id).some((r) => r.phase === "delivered") ? true : undefined,
  );
  expect(ofSession(live.id).map((r) => r.phase)).toEqual([]); // still running, nothing said about it

  await turn;
  await waitFor("the live run's callback", () =>
    ofSession(live.id).some((r) => r.phase === "delivered") ? true : undefined,
  );
  await settleTime(1_000);
  const records = ofSession(live.id);
  expect(records.map((r) => r.phase)).toEqual(["accepted", "attempt", "delivered"]);
  expect(records[0]?.outcome).toBe("completed");
  const callbacks = receiver.requests.filter(
    (r) => r.headers["idempotency-key"] === records[0]?.idempotencyKey,
  );
  expect(callbacks).toHaveLength(1);
});
