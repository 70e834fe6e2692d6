import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { pendingOutboxFiles } from "../helpers/pending-outbox-files.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";
import { E2E_TOKEN, HELD_ATTEMPT_DELIVERY, relayConfigFor, startOnRoot } from "./e2e-context.ts";

/**
 * `opencode serve` is killed with SIGKILL after its runs went idle and their callbacks left the
 * process, but before any answer came back: the receiver holds every request. Nothing says
 * "delivered" yet, so after a restart on the same data each callback is sent again, with the same
 * idempotency key, and answered 2xx exactly once.
 *
 * restart.test.ts covers the other pre-delivery crash point: a callback that already had an
 * answer (503) and waits in the outbox for its retry. Here no attempt has finished at all.
 */

const CALLER = "agent:main:e2e-crash-in-flight";
const RUNS = 3;

let model: FakeModel;
let receiver: RecordingReceiver;
let first: OpencodeServer;
let second: OpencodeServer | undefined;
/** Until the crash the receiver answers nothing; afterwards 200 at once. */
let holding = true;
/** 2xx answers per idempotency key. */
const answered2xx = new Map<string, number>();

const auditOf = (server: OpencodeServer): AuditRecord[] =>
  readAuditRecords(join(server.dataHome, "opencode-callback-relay", "audit.jsonl"));

beforeAll(async () => {
  model = await startFakeModel();
  receiver = await startRecordingReceiver((request) => {
    // Held far past the test: the sender's socket dies with its process, never answered.
    if (holding) return { status: 200, delayMs: 120_000 };
    const key = String(request.headers["idempotency-key"]);
    answered2xx.set(key, (answered2xx.get(key) ?? 0) + 1);
    return { status: 200, body: "{}" };
  });
  first = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    relayConfig: relayConfigFor(receiver.url, {
      // The attempt must still be in flight when the process dies: a timeout well past the test.
      delivery: { ...HELD_ATTEMPT_DELIVERY, maxAgeMs: 120_000 },
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

it("delivers callbacks whose attempt was in flight at a SIGKILL exactly once after the restart, same key", async () => {
  const sessions = await Promise.all(
    Array.from({ length: RUNS }, (_, i) =>
      first.createSession(`In flight ${i} runId=run-in-flight-${i} callbackSession=${CALLER}`),
    ),
  );
  for (const session of sessions) await first.promptAsync(session.id, "hello");
  const held = await receiver.waitFor(RUNS, 30_000);
  const heldKeys = new Set(held.map((r) => String(r.headers["idempotency-key"])));
  expect(heldKeys.size).toBe(RUNS);
  // Accepted (on disk in the outbox), sent, and no attempt has an outcome yet.
  await waitFor("every run to be accepted", () =>
    sessions.every((s) => auditOf(first).some((r) => r.sessionId === s.id && r.phase === "accepted"))
      ? true
      : undefined,
  );
  for (const session of sessions) {
    const phases = auditOf(first)
      .filter((r) => r.sessionId === session.id)
      .map((r) => r.phase);
    expect(phases, session.id).toEqual(["accepted"]);
  }

  await first.kill9();
  holding = false;
  second = await startOnRoot(first.root, model);
  const server = second;
  await waitFor("every run to be delivered", () =>
    sessions.every((s) => auditOf(server).some((r) => r.sessionId === s.id && r.phase === "delivered"))
      ? true
      : undefined,
  );
  // Nothing left to send in the shared stateDir: a second delivery would have to come from there.
  await waitFor("the outbox to hold nothing to send", () =>
    pendingOutboxFiles(join(server.stateHome, "opencode-callback-relay")).length === 0 ? true : undefined,
  );

  expect(receiver.requests).toHaveLength(2 * RUNS); // the held request, then the redelivery
  expect(new Set(receiver.requests.map((r) => String(r.headers["idempotency-key"])))).toEqual(heldKeys);
  expect([...answered2xx.keys()].sort()).toEqual([...heldKeys].sort());
  expect([...answered2xx.values()]).toEqual(Array(RUNS).fill(1));
  for (const session of sessions) {
    const records = auditOf(server).filter((r) => r.sessionId === session.id);
    expect(
      records.map((r) => r.phase),
      session.id,
    ).toEqual(["accepted", "recovered", "attempt", "delivered"]);
    expect(records[1]).toMatchObject({ attempts: 0 });
    expect(new Set(records.map((r) => r.idempotencyKey)).size).toBe(1);
    expect(heldKeys.has(String(records[0]?.idempotencyKey))).toBe(true);
  }
});
