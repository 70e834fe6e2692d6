import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { verifyAudit } from "../../relay/audit/verify-audit.ts";
import type { OpencodeServer, SessionInfo } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { count, type SharedDataWorld, startSharedDataWorld } from "./shared-data-world.ts";

/**
 * Several `opencode serve` processes on one project, one OpenCode data dir and one relay state dir
 * (see shared-data-world.ts): each run calls back exactly once, whichever process sees it end.
 * Prompts go through `prompt_async` and every wait is on a condition (an audit record, a 2xx, an
 * empty outbox) with room for a loaded machine; counts are taken once the shared outbox holds
 * nothing to send, so a second callback that has not come by then cannot come at all.
 */

const CALLER = "agent:main:e2e-two-servers";
/** Runs left pending in the outbox by the crashed server; enough that two recoveries overlap. */
const PENDING_RUNS = 30;
/** Time allowed for conditions that depend on many turns or on server start-ups, ms. */
const SLOW_MS = 90_000;

/** Sessions created one after another: no burst of requests against one server. */
async function createSessions(server: OpencodeServer, titles: string[]): Promise<SessionInfo[]> {
  const sessions: SessionInfo[] = [];
  for (const title of titles) sessions.push(await server.createSession(title));
  return sessions;
}

/** Start a turn the model holds open (`[[fake:hang]]`) and resolve once the model streams it. */
async function startHeldTurn(w: SharedDataWorld, server: OpencodeServer, sessionId: string): Promise<void> {
  const asked = w.model.requests.length;
  await server.promptAsync(sessionId, "[[fake:hang]]");
  await waitFor("the model to be streaming", () =>
    w.model.requests.slice(asked).some((r) => r.lastUserText.includes("[[fake:hang]]")) ? true : undefined,
  );
}

/** Resolves once every session has a record in `phase`. */
const everyHas = (w: SharedDataWorld, sessions: SessionInfo[], phase: AuditRecord["phase"]) =>
  waitFor(
    `a ${phase} record for each of ${sessions.length} runs`,
    () => {
      const records = w.audit();
      return sessions.every((s) => records.some((r) => r.sessionId === s.id && r.phase === phase))
        ? true
        : undefined;
    },
    SLOW_MS,
  );

const keyOf = (w: SharedDataWorld, sessionId: string) =>
  w.ofSession(sessionId).find((r) => r.phase === "accepted")?.idempotencyKey;

it("two servers recovering one crashed server's outbox at once deliver each run exactly once", async () => {
  const w = await startSharedDataWorld({ receiverUp: false });
  onTestFinished(() => w.close());
  const sessions = await createSessions(
    w.first,
    Array.from(
      { length: PENDING_RUNS },
      (_, i) => `Pending ${i} runId=run-two-${i} callbackSession=${CALLER}`,
    ),
  );
  for (const session of sessions) await w.first.promptAsync(session.id, "hello");
  await everyHas(w, sessions, "retry_scheduled");
  // A turn cut off by the crash: both new servers' start-up scans will find it.
  const [cutOff] = await createSessions(w.first, [`Cut off runId=run-two-cut callbackSession=${CALLER}`]);
  await startHeldTurn(w, w.first, cutOff!.id);

  await w.first.kill9();
  w.receiverUp = true;
  const b = await w.startOnSharedRoot();
  const c = await w.startOnSharedRoot();
  // Each plugin starts with its directory's first request: start both at the same moment.
  await Promise.all([b.request("GET", "/session"), c.request("GET", "/session")]);

  const runs = [...sessions, cutOff!];
  await everyHas(w, runs, "delivered");
  await w.outboxSettled();

  const tally = (phase: AuditRecord["phase"]) =>
    sessions.map((s) => count(w.ofSession(s.id), phase)).join("");
  console.log(
    `two recoveries of ${PENDING_RUNS} pending runs: recovered per run ${tally("recovered")}, ` +
      `delivered per run ${tally("delivered")}, 2xx per run ${sessions.map((s) => w.delivered.get(String(keyOf(w, s.id))) ?? 0).join("")}`,
  );
  for (const session of sessions) {
    const records = w.ofSession(session.id);
    expect(count(records, "accepted"), session.id).toBe(1);
    expect(count(records, "recovered"), session.id).toBe(1);
    expect(count(records, "delivered"), session.id).toBe(1);
    expect(w.delivered.get(String(keyOf(w, session.id))), session.id).toBe(1);
  }
  // The crashed server journalled the cut-off turn; one new server claims it, and the other is
  // deduped unless the claim retired the journal entry before it looked.
  const cut = w.ofSession(cutOff!.id);
  expect(cut.filter((r) => r.phase === "accepted").map((r) => r.outcome)).toEqual(["interrupted"]);
  expect(count(cut, "deduped")).toBeLessThanOrEqual(1);
  expect(count(cut, "delivered")).toBe(1);
  expect(w.delivered.get(String(keyOf(w, cutOff!.id)))).toBe(1);

  // Every request carried the key of one of these runs: no run got a second key.
  const keys = new Set(runs.map((s) => keyOf(w, s.id)));
  expect(new Set(w.receiver.requests.map((r) => r.headers["idempotency-key"]))).toEqual(keys);
  // Three writers (one killed mid-way) on one audit log: the chain still verifies.
  expect(await verifyAudit(w.auditPath)).toMatchObject({ ok: true });
});

it("a run prompted again in the other server, and runs on both at once, call back once each", async () => {
  const w = await startSharedDataWorld({ receiverUp: true });
  onTestFinished(() => w.close());
  const a = w.first;
  const b = await w.startOnSharedRoot();
  // Each plugin starts with its directory's first request: both run before any turn begins.
  await Promise.all([a.request("GET", "/session"), b.request("GET", "/session")]);
  // The same session (same runId) goes idle in one process, then in the other.
  const [both] = await createSessions(b, [`Both runId=run-two-both callbackSession=${CALLER}`]);
  await b.promptAsync(both!.id, "hello");
  await everyHas(w, [both!], "delivered");
  await a.promptAsync(both!.id, "again");
  await everyHas(w, [both!], "deduped");

  const onA = await createSessions(
    a,
    [0, 1, 2].map((i) => `A ${i} runId=run-a-${i} callbackSession=${CALLER}`),
  );
  const onB = await createSessions(
    b,
    [0, 1, 2].map((i) => `B ${i} runId=run-b-${i} callbackSession=${CALLER}`),
  );
  for (const session of onA) await a.promptAsync(session.id, "hi");
  for (const session of onB) await b.promptAsync(session.id, "hi");
  const parallel = [...onA, ...onB];
  await everyHas(w, parallel, "delivered");
  await w.outboxSettled();

  for (const session of [both!, ...parallel]) {
    const records = w.ofSession(session.id);
    expect(count(records, "accepted"), session.id).toBe(1);
    expect(count(records, "delivered"), session.id).toBe(1);
    expect(w.delivered.get(String(keyOf(w, session.id))), session.id).toBe(1);
  }
  expect(count(w.ofSession(both!.id), "deduped")).toBe(1);
  expect(await verifyAudit(w.auditPath)).toMatchObject({ ok: true });
});

it("takes a run left to its live owner over once that owner is SIGKILLed, without a restart (the journal's 30 s rescan)", async () => {
  const w = await startSharedDataWorld({ receiverUp: true });
  onTestFinished(() => w.close());
  const a = w.first;
  await a.request("GET", "/session"); // its plugin starts
  const [orphaned] = await createSessions(a, [`Orphaned runId=run-two-orphaned callbackSession=${CALLER}`]);
  await startHeldTurn(w, a, orphaned!.id);
  const b = await w.startOnSharedRoot();
  await b.request("GET", "/session");
  await waitFor("the second server to leave the live run to its owner", () =>
    b.output().includes("left to their live owner") ? true : undefined,
  );
  // The owner dies mid-turn; b is not restarted: its next rescan must find the run.
  await a.kill9();
  await everyHas(w, [orphaned!], "delivered");
  await w.outboxSettled();

  const records = w.ofSession(orphaned!.id);
  expect(records.map((r) => r.phase)).toEqual(
    expect.arrayContaining(["reconciled", "accepted", "delivered"]),
  );
  expect(records.find((r) => r.phase === "accepted")?.outcome).toBe("interrupted");
  expect(count(records, "accepted")).toBe(1);
  expect(w.delivered.get(String(keyOf(w, orphaned!.id)))).toBe(1);
  expect(b.output()).toContain("rescan: 1 run(s) resumed from the journal");
  expect(await verifyAudit(w.auditPath)).toMatchObject({ ok: true });
});

describe("a turn still running in one server when another starts on the same data", () => {
  // One scenario, run once here; every case below asserts on its result.
  let w: SharedDataWorld;
  let live: SessionInfo;

  beforeAll(async () => {
    w = await startSharedDataWorld({ receiverUp: true });
    const b = w.first;
    await b.request("GET", "/session"); // its plugin starts
    live = await b.createSession(`Live runId=run-two-live callbackSession=${CALLER}`);
    await startHeldTurn(w, b, live.id);
    const d = await w.startOnSharedRoot();
    // The new plugin's start-up reconciliation reads the run journal while the turn runs in b, and
    // says on stderr that it left the run to its live owner.
    await d.request("GET", "/session");
    await waitFor("the second server to leave the live run to its owner", () =>
      d.output().includes("left to their live owner") ? true : undefined,
    );
    // Only now does the turn end (the model answers), in b.
    w.model.release();
    await everyHas(w, [live], "delivered");
    await w.outboxSettled();
  });

  afterAll(async () => {
    await w?.close();
  });

  it("calls back once", () => {
    const records = w.ofSession(live.id);
    console.log(
      `live turn, second server started: ${records.map((r) => r.phase + (r.outcome ? `(${r.outcome})` : "")).join(" → ")}`,
    );
    expect(count(records, "accepted")).toBe(1);
    expect(count(records, "deduped")).toBeLessThanOrEqual(1);
    expect(count(records, "delivered")).toBe(1);
    expect(w.delivered.get(String(keyOf(w, live.id)))).toBe(1);
  });

  it("reports the outcome the turn had (completed), not interrupted", () => {
    const accepted = w.ofSession(live.id).filter((r) => r.phase === "accepted");
    expect(accepted.map((r) => r.outcome)).toEqual(["completed"]);
    const [callback] = w.receiver.requests.filter(
      (r) => r.headers["idempotency-key"] === accepted[0]?.idempotencyKey,
    );
    const message = (callback?.json as { message?: string } | undefined)?.message ?? "";
    const routing = /```json\n([\s\S]*?)\n```/.exec(message)?.[1];
    expect(JSON.parse(routing ?? "{}")).toMatchObject({ outcome: "completed", opencodeSessionId: live.id });
  });
});
