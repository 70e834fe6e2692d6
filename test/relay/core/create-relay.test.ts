import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type AuditLog, openAuditLog } from "../../../relay/audit/audit-log.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";
import { parseReportBlock } from "../../../relay/callback/build-report.ts";
import type { TerminalRun } from "../../../relay/callback/terminal-run.ts";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { Agent } from "../../../relay/delivery/http-client.ts";
import type { ErrorCode } from "../../../relay/errors/errors.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { entryLines } from "../../../relay/state/entry-lines.ts";
import { stagedBatchFiles } from "../../helpers/pending-outbox-files.ts";
import type { Reply } from "../../helpers/recording-receiver.ts";
import {
  INSTANCE,
  makeRun,
  phase,
  type RelayFixture,
  relayFixture,
  TOKEN,
} from "../../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
const relays: Relay[] = [];

afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  await fixture?.cleanup();
  fixture = undefined;
});

async function setup(reply?: Reply, overrides: { audit?: AuditLog; stateDir?: string } = {}) {
  fixture = await relayFixture(reply ? { responder: () => reply } : {});
  const relay = newRelay(overrides);
  return { fx: fixture, relay };
}

function newRelay(overrides: { audit?: AuditLog; stateDir?: string } = {}): Relay {
  if (!fixture) throw new Error("setup first");
  const relay = createRelay({
    config: fixture.config,
    instance: INSTANCE,
    audit: overrides.audit ?? fixture.audit,
    stateDir: overrides.stateDir ?? fixture.stateDir,
    // What submit does on its own stack is asserted here: a flusher thread the machine's load keeps
    // from running for 5 ms must not move it off (flush-stall.test.ts tests the wait itself).
    flushWaitMs: 60_000,
  });
  relays.push(relay);
  return relay;
}

describe("createRelay: delivery", () => {
  it.each([200, 204, 201])("delivers on %i exactly once, after accepting it durably", async (status) => {
    const { fx, relay } = await setup({ status, body: status === 204 ? "" : '{"ok":true}' });
    relay.submit(makeRun("r1"));
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(1);
    const request = fx.receiver.requests[0]!;
    expect(request.path).toBe("/hooks/agent");
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const body = request.json as { sessionKey: string; idempotencyKey: string };
    expect(body.sessionKey).toBe("agent:main:main");
    expect(request.headers["idempotency-key"]).toBe(body.idempotencyKey);

    const records = await fx.records();
    expect(records.map((r) => r.phase)).toEqual(["accepted", "attempt", "delivered"]);
    const [accepted, attempt] = records;
    expect(accepted).toMatchObject({
      sessionId: "ses_r1",
      runId: "r1",
      dedupeKey: "ses_r1|r1",
      durable: true,
    });
    expect(accepted?.idempotencyKey).toBe(body.idempotencyKey);
    expect(attempt).toMatchObject({
      attempt: 1,
      status,
      result: "delivered",
      url: `${fx.receiver.url}/hooks/agent`,
    });
    expect((await readdir(join(fx.stateDir, "outbox"))).sort()).toEqual(["failed", "holders", "staged"]);
    expect(stagedBatchFiles(fx.stateDir)).toEqual([]);
  });

  it.each<[string, Reply, ErrorCode]>([
    ["401", { status: 401, body: "Unauthorized" }, "DELIVERY_UNAUTHORIZED"],
    [
      "400 sessionKey disabled",
      {
        status: 400,
        body: '{"ok":false,"error":"sessionKey is disabled for externally supplied hook payload values; set hooks.allowRequestSessionKey=true to enable"}',
      },
      "DELIVERY_SESSION_KEY_DISABLED",
    ],
    [
      "400 sessionKey prefix",
      { status: 400, body: '{"ok":false,"error":"sessionKey must start with one of: hook:"}' },
      "DELIVERY_SESSION_KEY_PREFIX",
    ],
    ["413", { status: 413, body: '{"ok":false,"error":"payload too large"}' }, "DELIVERY_PAYLOAD_TOO_LARGE"],
    ["404", { status: 404, body: "Not Found" }, "DELIVERY_HTTP_STATUS"],
    ["409", { status: 409, body: "conflict" }, "DELIVERY_HTTP_STATUS"],
  ])("fails at once on %s with its code and hint, kept for redelivery", async (_name, reply, code) => {
    const { fx, relay } = await setup(reply);
    relay.submit(makeRun("r4"));
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(1);
    const records = await fx.records();
    expect(records.map((r) => r.phase)).toEqual(["accepted", "attempt", "failed"]);
    expect(records[1]).toMatchObject({ code, status: reply.status, result: "failed" });
    expect(records[2]).toMatchObject({ code, attempts: 1, runId: "r4" });
    expect(typeof records[2]?.hint).toBe("string");
    const failed = await readdir(join(fx.stateDir, "outbox", "failed"));
    expect(failed).toHaveLength(1);
  });

  it("refuses a run whose callbackSession is not allowed: integrity_error, nothing sent", async () => {
    const { fx, relay } = await setup();
    relay.submit(makeRun("r5", { tags: { callbackSession: "agent:other:main" } }));
    relay.submit(makeRun("r6", { tags: { callbackSession: undefined as unknown as string } }));
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(0);
    const records = await fx.records();
    expect(records.map((r) => [r.phase, r.code])).toEqual([
      ["integrity_error", "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED"],
      ["integrity_error", "INTEGRITY_MISSING_CALLBACK_SESSION"],
    ]);
    expect(records[0]).toMatchObject({ sessionId: "ses_r5", runId: "r5" });
    expect(typeof records[0]?.hint).toBe("string");
  });
});

describe("createRelay: the first steps on the caller's stack", () => {
  it("after a quiet spell, stages, claims and hands the first request to the HTTP client before submit returns", async () => {
    // In OpenCode any await on this way waits behind the host's promise callbacks (accept-run.ts).
    const { fx, relay } = await setup();
    relay.submit(makeRun("r-first")); // makes the state folders and writes the audit head
    await relay.drain();
    await new Promise((resolve) => setImmediate(resolve)); // a turn with no commit: quiet again
    const marker = (runId: string) =>
      join(fx.stateDir, "dedupe", `${markerName(`ses_${runId}|${runId}`)}.json`);
    const dispatch = vi.spyOn(Agent.prototype, "dispatch");
    try {
      relay.submit(makeRun("r-now"));
      relay.submit(makeRun("r-next")); // same turn: waits for the next group commit
      // Nothing awaited since: this happened on submit's stack.
      expect(existsSync(marker("r-now"))).toBe(true);
      expect(dispatch).toHaveBeenCalledTimes(1);
      expect(existsSync(marker("r-next"))).toBe(false);
    } finally {
      dispatch.mockRestore();
    }
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(3);
    const records = await fx.records();
    for (const runId of ["r-now", "r-next"]) {
      expect(records.filter((r) => r.runId === runId).map((r) => r.phase)).toEqual([
        "accepted",
        "attempt",
        "delivered",
      ]);
    }
  });
});

describe("createRelay: prepare", () => {
  it("prepared when its run began, a fresh relay sends even its first run from submit's stack; unprepared, it waits for its folders", async () => {
    const { fx, relay } = await setup();
    const marker = (runId: string) =>
      join(fx.stateDir, "dedupe", `${markerName(`ses_${runId}|${runId}`)}.json`);
    const dispatch = vi.spyOn(Agent.prototype, "dispatch");
    try {
      relay.submit(makeRun("r-unprepared")); // a fresh relay: no folders made, no record written
      expect(existsSync(marker("r-unprepared"))).toBe(false);
      expect(dispatch).not.toHaveBeenCalled();
      await relay.drain();

      // Another state dir and a log this process has not written to: the head is read from disk.
      const other = join(fx.stateDir, "other");
      await mkdir(other, { recursive: true });
      const fresh = newRelay({ stateDir: other, audit: openAuditLog({ path: join(other, "audit.jsonl") }) });
      fresh.prepare();
      fresh.prepare(); // once is enough; again is nothing
      await fresh.drain();
      dispatch.mockClear();
      fresh.submit(makeRun("r-prepared"));
      expect(
        existsSync(join(fx.stateDir, "other", "dedupe", `${markerName("ses_r-prepared|r-prepared")}.json`)),
      ).toBe(true);
      expect(dispatch).toHaveBeenCalledTimes(1);
      await fresh.drain();
    } finally {
      dispatch.mockRestore();
    }
    expect(fx.receiver.requests).toHaveLength(2);
  });
});

describe("createRelay: dedupe", () => {
  it("sends one request when the same run is submitted twice, and audits the second as deduped", async () => {
    const { fx, relay } = await setup();
    relay.submit(makeRun("r7"));
    relay.submit(makeRun("r7"));
    await relay.drain();
    relay.submit(makeRun("r7", { run: { outcome: "failed" } }));
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(1);
    const records = await fx.records();
    expect(phase(records, "deduped")).toHaveLength(2);
    expect(phase(records, "delivered")).toHaveLength(1);
  });

  it("treats a new runId in the same session as a new run", async () => {
    const { fx, relay } = await setup();
    relay.submit(makeRun("r8", { run: { sessionId: "ses_same" } }));
    relay.submit(makeRun("r9", { run: { sessionId: "ses_same" } }));
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(2);
  });

  it("sends one request when two relays share one stateDir and both see the run", async () => {
    const { fx, relay } = await setup();
    const other = newRelay();
    relay.submit(makeRun("r10"));
    other.submit(makeRun("r10"));
    await Promise.all([relay.drain(), other.drain()]);

    expect(fx.receiver.requests).toHaveLength(1);
    const records = await fx.records();
    expect(phase(records, "deduped")).toHaveLength(1);
    expect(phase(records, "delivered")).toHaveLength(1);
  });
});

describe("createRelay: secrets and robustness", () => {
  it("never writes the token to the audit log or the outbox, even when the receiver echoes it", async () => {
    const { fx, relay } = await setup();
    fx.receiver.respondWith((request) => ({
      status: 400,
      body: `bad auth header ${request.headers.authorization}`,
    }));
    relay.submit(makeRun("r11"));
    await relay.drain();

    const text = await readFile(fx.auditPath, "utf8");
    expect(text).not.toContain(TOKEN);
    expect(fx.receiver.requests[0]?.headers.authorization).toContain(TOKEN);
    const [failedFile] = await readdir(join(fx.stateDir, "outbox", "failed"));
    const entry = await readFile(join(fx.stateDir, "outbox", "failed", failedFile!), "utf8");
    expect(entry).not.toContain(TOKEN);
    expect(entry).not.toMatch(/authorization/i);
    expect((await fx.records()).length).toBe(3);
  });

  it("never throws from submit, with an audit log that throws, a garbage run, or a throw while scheduling", async () => {
    const throwing: AuditLog = {
      path: "/nonexistent",
      append() {
        throw new Error("boom");
      },
      flush: () => Promise.resolve(),
    };
    const { fx, relay } = await setup(undefined, { audit: throwing });
    expect(() => relay.submit(makeRun("r12"))).not.toThrow();
    expect(() => relay.submit(null as unknown as TerminalRun)).not.toThrow();
    expect(() => relay.submit({} as TerminalRun)).not.toThrow();
    // submit's synchronous steps can throw too (a hook called with the stack nearly full; here the
    // group commit's timer and every microtask): the throw must stay inside submit, the relay must go
    // on (drain and close still resolve), and the run is still delivered.
    const overflow = () => {
      throw new RangeError("Maximum call stack size exceeded");
    };
    const spies = [
      vi.spyOn(globalThis, "queueMicrotask").mockImplementation(overflow),
      vi.spyOn(globalThis, "setImmediate").mockImplementation(overflow),
    ];
    try {
      expect(() => relay.submit(makeRun("r12-deep"))).not.toThrow();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(2);
  });

  it("turns an unexpected exception into an INTERNAL record", async () => {
    const { fx, relay } = await setup();
    relay.submit(null as unknown as TerminalRun);
    await relay.drain();
    const records = await fx.records();
    expect(records.map((r) => [r.phase, r.code])).toEqual([["failed", "INTERNAL"]]);
  });

  it("degrades to in-memory delivery with STATE_UNWRITABLE when stateDir cannot be created", async () => {
    fixture = await relayFixture();
    const blocker = join(fixture.dir, "a-file");
    await writeFile(blocker, "not a directory");
    const relay = newRelay({ stateDir: join(blocker, "state") });
    expect(() => relay.submit(makeRun("r13"))).not.toThrow();
    await relay.drain();

    expect(fixture.receiver.requests).toHaveLength(1);
    const records = await fixture.records();
    expect(records.map((r) => r.phase)).toEqual([
      "state_error",
      "accepted",
      "attempt",
      "state_error",
      "delivered",
    ]);
    expect(records[0]).toMatchObject({ code: "STATE_UNWRITABLE", runId: "r13" });
    expect(records[1]).toMatchObject({ durable: false });
    // Not even the delivered run's claim can be written: the audit says it may be sent again.
    expect(records[3]).toMatchObject({ code: "STATE_DELIVERED_UNMARKED", runId: "r13" });
    await expect(relay.recover()).resolves.toBeUndefined();
  });
});

describe("createRelay: a state dir open to others", () => {
  it("tightens a state dir of ours to 0700 and audits a warning", async () => {
    fixture = await relayFixture();
    const stateDir = join(fixture.dir, "state");
    await mkdir(stateDir);
    await chmod(stateDir, 0o777);
    const relay = newRelay({ stateDir });
    relay.submit(makeRun("r14"));
    await relay.drain();
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    const records = await fixture.records();
    expect(records.filter((r) => r.phase === "warning")).toMatchObject([
      { code: "STATE_FOLDER_TIGHTENED", path: stateDir },
    ]);
    expect(records.map((r) => r.phase)).toContain("delivered");
  });

  it("refuses a state dir that is not ours (STATE_FOLDER_INSECURE), writes nothing in it, delivers in memory", async () => {
    fixture = await relayFixture();
    const stateDir = join(fixture.dir, "state");
    await mkdir(stateDir);
    await chmod(stateDir, 0o777);
    await chown(stateDir, 65534, 65534); // nobody: these tests run as root
    const relay = newRelay({ stateDir });
    relay.submit(makeRun("r15"));
    await relay.drain();
    expect(await readdir(stateDir)).toEqual([]);
    const records = await fixture.records();
    expect(records[0]).toMatchObject({ phase: "state_error", code: "STATE_FOLDER_INSECURE", runId: "r15" });
    expect(fixture.receiver.requests).toHaveLength(1);
  });
});

describe("createRelay: a long reply", () => {
  it("stages only the summary a report can quote, and reports the whole reply's length", async () => {
    const { fx, relay } = await setup({ status: 200 });
    const reply = "All done. ".repeat(11_000); // 110,000 characters, a long agentic reply
    relay.submit(makeRun("long1", { run: { summary: reply } }));
    await relay.drain();
    const message = String((fx.receiver.requests[0]?.json as { message?: string } | undefined)?.message);
    const max = fx.config.summaryMaxChars;
    expect(message).toContain(`Summary (TRUNCATED: first ${max} of ${reply.length} characters):`);
    expect(message).toContain(reply.slice(0, max));
    // What went to disk before the first attempt (the marker links the staged batch): the start.
    const marker = join(fx.stateDir, "dedupe", `${markerName("ses_long1|long1")}.json`);
    const [staged] = entryLines(await readFile(marker, "utf8")) as unknown as Array<{
      callback: { report: { summary: string; summaryLength: number } };
    }>;
    expect(staged?.callback.report.summary).toBe(reply.slice(0, max));
    expect(staged?.callback.report.summaryLength).toBe(reply.length);
  });
});

describe("createRelay: audit anchors", () => {
  it("carries the audit head at acceptance in the callback's block, which anchors the log", async () => {
    const { fx, relay } = await setup({ status: 200 });
    relay.submit(makeRun("r16"));
    await relay.drain();
    relay.submit(makeRun("r17"));
    await relay.drain();
    const blocks = fx.receiver.requests.map((r) => parseReportBlock((r.json as { message: string }).message));
    expect(blocks[0]?.auditAnchor).toBeNull(); // nothing was in the log yet
    const anchor = String(blocks[1]?.auditAnchor);
    const [seq, hash] = anchor.split(":");
    const records = await fx.records();
    expect(records.find((r) => r.seq === Number(seq))).toMatchObject({ runId: "r16", hash });
    const anchors = [{ seq: Number(seq), hash: hash! }];
    expect(await verifyAudit(fx.auditPath, { anchors })).toMatchObject({ ok: true, anchors: 1 });
  });

  it("reads the head from disk once for runs accepted together before any record is written", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    // The relay's view of the log: the real one, with its reads of the head from disk counted.
    let reads = 0;
    const audit: AuditLog = {
      path: fx.audit.path,
      append: (input) => fx.audit.append(input),
      flush: () => fx.audit.flush(),
      anchorNow: () => fx.audit.anchorNow?.(),
      anchor: () => {
        reads++;
        return fx.audit.anchor?.() ?? Promise.resolve(undefined);
      },
    };
    const relay = newRelay({ audit });
    for (let i = 0; i < 40; i++) relay.submit(makeRun(`burst-anchor-${i}`));
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(40);
    expect(reads).toBe(1);
  });
});
