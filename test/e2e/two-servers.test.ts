import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { verifyAudit } from "../../relay/audit/verify-audit.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";
import { buildBundle, E2E_TOKEN, relayConfigFor, settleTime } from "./e2e-context.ts";

/**
 * Several `opencode serve` processes on one project, one OpenCode data dir and one relay state dir
 * (DESIGN.md "Terminal runs and dedupe": at most one callback per run across "two processes
 * sharing one state directory"). Sharing OpenCode's storage is what makes two plugins react to the
 * same run: each one, at start-up, resumes the shared outbox and scans the shared sessions for
 * turns cut off by a crash. So the processes here start on the same root (harness `root`), and the
 * relay's stateDir and audit path are named explicitly, outside every root, for all of them.
 */

const CALLER = "agent:main:e2e-two-servers";
/** Runs left pending in the outbox by the crashed server; enough that two recoveries overlap. */
const PENDING_RUNS = 30;

let model: FakeModel;
let receiver: RecordingReceiver;
let shared: string;
let auditPath: string;
let first: OpencodeServer;
const later: OpencodeServer[] = [];
/** Until the crash the caller session is busy (503); afterwards every request is answered 200. */
let receiverUp = false;
/** 2xx answers per idempotency key: "delivered" as the receiver saw it. */
const delivered = new Map<string, number>();

/** Every record of the shared audit log (each line must parse as JSON). */
const audit = (): AuditRecord[] => readAuditRecords(auditPath);
const ofSession = (id: string) => audit().filter((r) => r.sessionId === id);
const count = (records: AuditRecord[], phase: AuditRecord["phase"]) =>
  records.filter((r) => r.phase === phase).length;

/** A server on the first server's root (same HOME, XDG dirs, project, plugin and relay config). */
async function startOnSharedRoot(): Promise<OpencodeServer> {
  // bundlePath null: keep the installed bundle rather than rewrite it under a running server.
  const server = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    root: first.root,
    bundlePath: null,
    env: { OCR_E2E_TOKEN: E2E_TOKEN },
  });
  later.push(server);
  return server;
}

beforeAll(async () => {
  buildBundle();
  shared = await mkdtemp(join(tmpdir(), "ocr-two-servers-"));
  auditPath = join(shared, "audit.jsonl");
  model = await startFakeModel();
  receiver = await startRecordingReceiver((request) => {
    if (!receiverUp) return { status: 503, headers: { "retry-after": "1" }, body: "busy" };
    const key = String(request.headers["idempotency-key"]);
    delivered.set(key, (delivered.get(key) ?? 0) + 1);
    return { status: 200, body: "{}" };
  });
  first = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    relayConfig: relayConfigFor(receiver.url, {
      stateDir: join(shared, "state"),
      audit: { path: auditPath },
      delivery: {
        timeoutMs: 2_000,
        maxAttempts: 100,
        initialDelayMs: 300,
        maxDelayMs: 1_000,
        maxAgeMs: 120_000,
      },
    }),
    env: { OCR_E2E_TOKEN: E2E_TOKEN },
  });
});

afterAll(async () => {
  try {
    // Three servers wrote one log: into the suite-wide audit check.
    if (auditPath) await sinkAudit(auditPath, { E2E_TOKEN });
  } finally {
    for (const server of later.splice(0)) await server.stop();
    await first?.stop(); // owns the shared root: removes it
    await Promise.all([model?.close(), receiver?.close()]);
    if (shared) await rm(shared, { recursive: true, force: true });
  }
});

it("two servers recovering one crashed server's outbox at once deliver each run exactly once", async () => {
  const sessions = await Promise.all(
    Array.from({ length: PENDING_RUNS }, (_, i) =>
      first.createSession(`Pending ${i} runId=run-two-${i} callbackSession=${CALLER}`),
    ),
  );
  await Promise.all(sessions.map((s) => first.prompt(s.id, "hello")));
  await waitFor("every run to wait for a retry", () => {
    const records = audit();
    return sessions.every((s) => records.some((r) => r.sessionId === s.id && r.phase === "retry_scheduled"))
      ? true
      : undefined;
  });
  // A turn cut off by the crash: both new servers' start-up scans will find it.
  const cutOff = await first.createSession(`Cut off runId=run-two-cut callbackSession=${CALLER}`);
  const asked = model.requests.length;
  await first.promptAsync(cutOff.id, "[[fake:hang]]");
  await waitFor("the model to be streaming", () =>
    model.requests.slice(asked).some((r) => r.lastUserText.includes("[[fake:hang]]")) ? true : undefined,
  );

  await first.kill9();
  receiverUp = true;
  const b = await startOnSharedRoot();
  const c = await startOnSharedRoot();
  // Each plugin starts with its directory's first request: start both at the same moment.
  await Promise.all([b.request("GET", "/session"), c.request("GET", "/session")]);

  const runs = [...sessions, cutOff];
  const keyOf = (sessionId: string) =>
    audit().find((r) => r.sessionId === sessionId && r.phase === "accepted")?.idempotencyKey;
  await waitFor(
    "a 2xx for every run",
    () => (runs.every((s) => delivered.has(keyOf(s.id) ?? "")) ? true : undefined),
    20_000,
  );
  await settleTime(2_500); // longer than the retry delays: a second delivery would show up

  const tally = (phase: AuditRecord["phase"]) => sessions.map((s) => count(ofSession(s.id), phase)).join("");
  console.log(
    `two recoveries of ${PENDING_RUNS} pending runs: recovered per run ${tally("recovered")}, ` +
      `delivered per run ${tally("delivered")}, 2xx per run ${sessions.map((s) => delivered.get(String(keyOf(s.id))) ?? 0).join("")}`,
  );
  for (const session of sessions) {
    const records = ofSession(session.id);
    expect(count(records, "accepted"), session.id).toBe(1);
    expect(count(records, "recovered"), session.id).toBe(1);
    expect(count(records, "delivered"), session.id).toBe(1);
    expect(delivered.get(String(keyOf(session.id))), session.id).toBe(1);
  }
  // Both servers may find the cut-off turn in the run journal; one claims it, and the other is
  // deduped unless the claim retired the journal entry before it looked.
  const cut = ofSession(cutOff.id);
  expect(cut.filter((r) => r.phase === "accepted").map((r) => r.outcome)).toEqual(["interrupted"]);
  expect(count(cut, "deduped")).toBeLessThanOrEqual(1);
  expect(count(cut, "delivered")).toBe(1);
  expect(delivered.get(String(keyOf(cutOff.id)))).toBe(1);

  // Every request carried the key of one of these runs: no run got a second key.
  const keys = new Set(runs.map((s) => keyOf(s.id)));
  expect(new Set(receiver.requests.map((r) => r.headers["idempotency-key"]))).toEqual(keys);
  // Three writers (one killed mid-way) on one audit log: the chain still verifies.
  expect(await verifyAudit(auditPath)).toMatchObject({ ok: true });
});

it("a run prompted again in the other server, and runs on both at once, call back once each", async () => {
  const [b, c] = later;
  if (!b || !c) throw new Error("the first case starts the servers");
  // The same session (same runId) goes idle in one process, then in the other.
  const both = await b.createSession(`Both runId=run-two-both callbackSession=${CALLER}`);
  await b.prompt(both.id, "hello");
  await waitFor("its callback", () => ofSession(both.id).find((r) => r.phase === "delivered"));
  await c.prompt(both.id, "again");
  await waitFor("the other server to dedupe it", () => ofSession(both.id).find((r) => r.phase === "deduped"));

  const onB = await Promise.all(
    [0, 1, 2].map((i) => b.createSession(`B ${i} runId=run-b-${i} callbackSession=${CALLER}`)),
  );
  const onC = await Promise.all(
    [0, 1, 2].map((i) => c.createSession(`C ${i} runId=run-c-${i} callbackSession=${CALLER}`)),
  );
  await Promise.all([...onB.map((s) => b.prompt(s.id, "hi")), ...onC.map((s) => c.prompt(s.id, "hi"))]);
  const parallel = [...onB, ...onC];
  await waitFor("a callback for every run", () =>
    parallel.every((s) => ofSession(s.id).some((r) => r.phase === "delivered")) ? true : undefined,
  );
  await settleTime(1_000);

  for (const session of [both, ...parallel]) {
    const records = ofSession(session.id);
    expect(count(records, "accepted"), session.id).toBe(1);
    expect(count(records, "delivered"), session.id).toBe(1);
    const key = records.find((r) => r.phase === "accepted")?.idempotencyKey;
    expect(delivered.get(String(key)), session.id).toBe(1);
  }
  expect(count(ofSession(both.id), "deduped")).toBe(1);
  expect(await verifyAudit(auditPath)).toMatchObject({ ok: true });
});

it("a turn still running in one server when another starts on the same data calls back once", async () => {
  const [b] = later;
  if (!b) throw new Error("the first case starts the servers");
  const d = await startOnSharedRoot(); // listening; its plugin starts with its first request
  const live = await b.createSession(`Live runId=run-two-live callbackSession=${CALLER}`);
  const asked = model.requests.length;
  const turn = b.prompt(live.id, "[[fake:text chunks=30 delay=100]]"); // ~3 s of streaming
  await waitFor("the model to be streaming", () =>
    model.requests.slice(asked).some((r) => r.lastUserText.includes("chunks=30")) ? true : undefined,
  );
  // The new plugin's start-up scan reads the shared sessions while the turn streams in the other process.
  await d.request("GET", "/session");
  await turn;
  await waitFor("the callback", () => (count(ofSession(live.id), "delivered") > 0 ? true : undefined));
  await settleTime(1_500);

  const records = ofSession(live.id);
  // Which process claims the run first decides the outcome it reports (see the report to the lead).
  console.log(
    `live turn, second server started: ${records.map((r) => r.phase + (r.outcome ? `(${r.outcome})` : "")).join(" → ")}`,
  );
  expect(count(records, "accepted")).toBe(1);
  expect(count(records, "deduped")).toBeLessThanOrEqual(1);
  expect(count(records, "delivered")).toBe(1);
  const key = records.find((r) => r.phase === "accepted")?.idempotencyKey;
  expect(delivered.get(String(key))).toBe(1);
});
