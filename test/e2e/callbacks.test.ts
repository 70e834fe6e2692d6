import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RoutingFields } from "../../relay/callback/callback.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import type { ReceivedRequest } from "../helpers/recording-receiver.ts";
import { E2E_TOKEN, type E2EWorld, forSession, startWorld } from "./e2e-context.ts";

/**
 * The plugin bundle inside a real `opencode serve`, driven over HTTP, calling back to a real
 * receiver. One server for the file; each case has its own sessions and its own callbackSession
 * (`agent:main:e2e-<case>`), so cases never read each other's callbacks.
 */

let world: E2EWorld;
let projectId: string;

beforeAll(async () => {
  world = await startWorld();
  projectId = (await world.server.request<{ id: string }>("GET", "/project/current")).id;
});

afterAll(async () => {
  await world?.close();
});

interface AgentBody {
  message: string;
  name: string;
  sessionKey: string;
  sessionMode: string;
  wakeMode: string;
  deliver: boolean;
  idempotencyKey: string;
}

const bodyOf = (request: ReceivedRequest) => request.json as AgentBody;

/** The machine-readable routing block of the report (the one fenced JSON block in `message`). */
function routingOf(request: ReceivedRequest): RoutingFields & { idempotencyKey: string } {
  const block = /```json\n([\s\S]*?)\n```/.exec(bodyOf(request).message)?.[1];
  if (!block) throw new Error("no routing block in the callback message");
  return JSON.parse(block);
}

/** Callbacks the receiver got for one callbackSession. */
const callbacksTo = (sessionKey: string) =>
  world.receiver.requests.filter((request) => bodyOf(request)?.sessionKey === sessionKey);

/** Wait until `count` callbacks for `sessionKey` arrived. */
const waitForCallbacks = (sessionKey: string, count: number): Promise<ReceivedRequest[]> =>
  waitFor(
    `${count} callback(s) to ${sessionKey}`,
    () => (callbacksTo(sessionKey).length >= count ? callbacksTo(sessionKey) : undefined),
    30_000,
  );

/** Wait until the model got the request carrying `marker` (asked after `asked` earlier requests). */
const waitForModelRequest = (asked: number, marker: string) =>
  waitFor("the model to get the request", () =>
    world.model.requests.slice(asked).some((r) => r.lastUserText.includes(marker)) ? true : undefined,
  );

let barriers = 0;
/**
 * Resolves once the plugin's hook has handled every event published so far and the relay has
 * nothing left to send: a later tagged run is delivered (OpenCode hands the plugin events in order,
 * so the earlier sessions' events were handled first) and the outbox is empty (every callback is
 * on disk before its first attempt). The point where an absence can be asserted without a sleep.
 */
async function everythingBeforeHandled(): Promise<void> {
  barriers += 1;
  const sessionKey = `agent:main:e2e-barrier-${barriers}`;
  const session = await world.server.createSession(
    title("Barrier", { runId: `run-barrier-${barriers}`, callbackSession: sessionKey }),
  );
  await world.server.prompt(session.id, "barrier");
  await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "delivered");
  await world.outboxSettled();
}

const title = (text: string, tags: Record<string, string>) =>
  `${text} ${Object.entries(tags)
    .map(([key, value]) => `${key}=${value}`)
    .join(" ")}`;

describe("a tagged run calls back once, to the caller session its title names", () => {
  it("POSTs one agent callback with the routing fields, token and idempotency key, audited accepted and delivered", async () => {
    const sessionKey = "agent:main:e2e-completed";
    const session = await world.server.createSession(
      title("Fix the bug", {
        runId: "run-completed",
        taskId: "T-1",
        requested: "build",
        resolved: "build",
        callbackSession: sessionKey,
        callbackSessionId: "cs-123",
        projectId,
        repoRoot: world.server.projectDir,
      }),
    );
    await world.server.prompt(session.id, "[[fake:write path=notes.txt]]");

    const [request] = await waitForCallbacks(sessionKey, 1);
    const records = await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "delivered");
    const body = bodyOf(request!);
    expect(request!.path).toBe("/hooks/agent");
    expect(request!.headers.authorization).toBe(`Bearer ${E2E_TOKEN}`);
    expect(request!.headers["idempotency-key"]).toBe(body.idempotencyKey);
    expect(body).toMatchObject({ sessionKey, sessionMode: "persistent", wakeMode: "now", deliver: false });
    expect(routingOf(request!)).toMatchObject({
      runId: "run-completed",
      taskId: "T-1",
      requestedAgent: "build",
      resolvedAgent: "build",
      actualAgent: "build",
      fallbackUsed: false,
      callbackSession: sessionKey,
      callbackSessionId: "cs-123",
      opencodeSessionId: session.id,
      projectId,
      repoRoot: world.server.projectDir,
      outcome: "completed",
      idempotencyKey: body.idempotencyKey,
    });
    expect(records[0]?.idempotencyKey).toBe(body.idempotencyKey);
    expect(forSession(world.audit(), session.id).map((r) => r.phase)).toEqual([
      "accepted",
      "attempt",
      "delivered",
    ]);
    // Settled from what the events told, not from a read of the session.
    expect(forSession(world.audit(), session.id)[0]?.settledFrom).toBe("events");
    // The file the turn wrote is reported relative to the worktree.
    expect(body.message).toContain("notes.txt");
  });

  it("does not call back twice for a second prompt with the same runId (audited deduped)", async () => {
    const sessionKey = "agent:main:e2e-dedupe";
    const session = await world.server.createSession(
      title("Twice", { runId: "run-twice", callbackSession: sessionKey }),
    );
    await world.server.prompt(session.id, "first");
    await waitForCallbacks(sessionKey, 1);
    await world.server.prompt(session.id, "second");
    await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "deduped");
    await everythingBeforeHandled();
    expect(callbacksTo(sessionKey)).toHaveLength(1);
    expect(forSession(world.audit(), session.id).filter((r) => r.phase === "accepted")).toHaveLength(1);
  });

  it("calls back again when the session is retitled with a new runId", async () => {
    const sessionKey = "agent:main:e2e-retitle";
    const session = await world.server.createSession(
      title("Run A", { runId: "run-a", callbackSession: sessionKey }),
    );
    await world.server.prompt(session.id, "first");
    await waitForCallbacks(sessionKey, 1);
    await world.server.patchTitle(
      session.id,
      title("Run B", { runId: "run-b", callbackSession: sessionKey }),
    );
    await world.server.prompt(session.id, "second");
    const requests = await waitForCallbacks(sessionKey, 2);
    expect(requests.map((r) => routingOf(r).runId)).toEqual(["run-a", "run-b"]);
    expect(new Set(requests.map((r) => r.headers["idempotency-key"])).size).toBe(2);
  });
});

describe("outcomes", () => {
  it("reports a provider error (HTTP 401 from the model) as one failed callback carrying the error", async () => {
    const sessionKey = "agent:main:e2e-failed";
    const session = await world.server.createSession(
      title("Fails", { runId: "run-401", callbackSession: sessionKey }),
    );
    await world.server.prompt(session.id, "[[fake:error status=401]]");
    const [request] = await waitForCallbacks(sessionKey, 1);
    expect(routingOf(request!).outcome).toBe("failed");
    expect(bodyOf(request!).message).toContain("APIError");
    const accepted = await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "accepted");
    expect(accepted[0]?.outcome).toBe("failed");
    // The error OpenCode writes after the idle came from the events too: nothing was read.
    expect(accepted[0]?.settledFrom).toBe("events");
    await everythingBeforeHandled();
    expect(callbacksTo(sessionKey)).toHaveLength(1); // two idles, one callback
  });

  it("reports an abort mid-stream as one aborted callback", async () => {
    const sessionKey = "agent:main:e2e-aborted";
    const session = await world.server.createSession(
      title("Aborts", { runId: "run-abort", callbackSession: sessionKey }),
    );
    const asked = world.model.requests.length;
    await world.server.promptAsync(session.id, "[[fake:hang]]");
    await waitForModelRequest(asked, "[[fake:hang]]");
    await world.server.abort(session.id);
    const [request] = await waitForCallbacks(sessionKey, 1);
    expect(routingOf(request!).outcome).toBe("aborted");
    expect(bodyOf(request!).message).toContain("MessageAbortedError");
    await everythingBeforeHandled();
    expect(callbacksTo(sessionKey)).toHaveLength(1);
  });

  it("calls back for the parent of a subagent, never for the untagged child", async () => {
    const sessionKey = "agent:main:e2e-subagent";
    const session = await world.server.createSession(
      title("Delegates", { runId: "run-task", callbackSession: sessionKey }),
    );
    await world.server.prompt(session.id, "[[fake:task]]");
    const [request] = await waitForCallbacks(sessionKey, 1);
    expect(routingOf(request!).opencodeSessionId).toBe(session.id);
    const children = await world.server.request<Array<{ id: string }>>(
      "GET",
      `/session/${session.id}/children`,
    );
    expect(children).toHaveLength(1);
    await everythingBeforeHandled();
    expect(forSession(world.audit(), children[0]!.id)).toEqual([]);
    expect(callbacksTo(sessionKey)).toHaveLength(1);
  });
});

describe("sessions that must not call back", () => {
  it("ignores an untagged session: no callback, no audit record", async () => {
    const before = world.receiver.requests.length;
    const session = await world.server.createSession("Just a human session taskId=T-9");
    await world.server.prompt(session.id, "hello");
    await everythingBeforeHandled();
    expect(forSession(world.audit(), session.id)).toEqual([]);
    // Only the barrier's own callback arrived.
    expect(world.receiver.requests.length).toBe(before + 1);
  });

  it("refuses a runId without callbackSession: integrity_error, nothing sent", async () => {
    const before = world.receiver.requests.length;
    const session = await world.server.createSession(title("No route", { runId: "run-nocb" }));
    await world.server.prompt(session.id, "hello");
    const [record] = await world.waitForAudit(
      (r) => r.sessionId === session.id && r.phase === "integrity_error",
    );
    expect(record?.code).toBe("INTEGRITY_MISSING_CALLBACK_SESSION");
    await everythingBeforeHandled();
    // Only the barrier's own callback arrived.
    expect(world.receiver.requests.length).toBe(before + 1);
  });

  it("refuses a repoRoot naming another project: INTEGRITY_REPO_ROOT_MISMATCH, nothing sent", async () => {
    const sessionKey = "agent:main:e2e-repo-root";
    const session = await world.server.createSession(
      title("Elsewhere", {
        runId: "run-repo",
        callbackSession: sessionKey,
        repoRoot: "/srv/another-project",
      }),
    );
    await world.server.prompt(session.id, "hello");
    const [record] = await world.waitForAudit(
      (r) => r.sessionId === session.id && r.phase === "integrity_error",
    );
    expect(record?.code).toBe("INTEGRITY_REPO_ROOT_MISMATCH");
    await everythingBeforeHandled();
    expect(callbacksTo(sessionKey)).toEqual([]);
  });

  it("refuses a run whose routing tags were edited mid-turn: INTEGRITY_TAGS_CHANGED", async () => {
    const sessionKey = "agent:main:e2e-pinned";
    const session = await world.server.createSession(
      title("Pinned", { runId: "run-pin", callbackSession: sessionKey }),
    );
    // The turn runs until the title has been edited: the model holds its answer until released.
    const asked = world.model.requests.length;
    await world.server.promptAsync(session.id, "[[fake:hang]]");
    await waitForModelRequest(asked, "[[fake:hang]]");
    await world.server.patchTitle(
      session.id,
      title("Pinned", { runId: "run-pin", callbackSession: "agent:main:evil" }),
    );
    expect(world.model.release()).toBe(1);
    const [record] = await world.waitForAudit(
      (r) => r.sessionId === session.id && r.phase === "integrity_error",
    );
    expect(record?.code).toBe("INTEGRITY_TAGS_CHANGED");
    await everythingBeforeHandled();
    expect(callbacksTo(sessionKey)).toEqual([]);
    expect(callbacksTo("agent:main:evil")).toEqual([]);
  });

  it("refuses a run whose runId was re-spelled to move its callbackSession before the turn: INTEGRITY_TAGS_CHANGED", async () => {
    const sessionKey = "agent:main:e2e-respelled";
    const session = await world.server.createSession(
      title("Respelled", { runId: "run-respell", callbackSession: sessionKey }),
    );
    // The same run (the decoded runId is run-respell), pointed elsewhere: an edit, not a new run.
    await world.server.patchTitle(
      session.id,
      title("Respelled", { runId: "run%2Drespell", callbackSession: "agent:main:evil" }),
    );
    await world.server.prompt(session.id, "go");
    const [record] = await world.waitForAudit(
      (r) => r.sessionId === session.id && r.phase === "integrity_error",
    );
    expect(record?.code).toBe("INTEGRITY_TAGS_CHANGED");
    expect(callbacksTo(sessionKey)).toEqual([]);
    expect(callbacksTo("agent:main:evil")).toEqual([]);
  });

  it("ends a run whose title reads two ways in an integrity error, not in silence", async () => {
    const session = await world.server.createSession(
      "Two readings runId=run-confusable callbackSession=agent:main:e2e-x CallbackSession=agent:main:evil",
    );
    await world.server.prompt(session.id, "go");
    const [record] = await world.waitForAudit(
      (r) => r.sessionId === session.id && r.phase === "integrity_error",
    );
    expect(record?.code).toBe("TITLE_CONFUSABLE_KEY");
    expect(callbacksTo("agent:main:e2e-x")).toEqual([]);
    expect(callbacksTo("agent:main:evil")).toEqual([]);
  });
});

describe("the audit log", () => {
  it("holds only JSON lines and never the token", () => {
    // Every whole line parses (readAuditRecords throws on one that does not).
    expect(readAuditRecords(world.auditPath).length).toBeGreaterThan(0);
    expect(readFileSync(world.auditPath, "utf8")).not.toContain(E2E_TOKEN);
  });
});
