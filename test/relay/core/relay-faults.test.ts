import { spawnSync } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildCallback } from "../../../relay/callback/build-callback.ts";
import type { RelayConfigInput } from "../../../relay/config/config-schema.ts";
import { createRelay, type Relay, type RelayOptions } from "../../../relay/core/create-relay.ts";
import { checkIntegrity } from "../../../relay/integrity/check-integrity.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import { manualTime } from "../../helpers/manual-time.ts";
import { stagedBatchFiles } from "../../helpers/pending-outbox-files.ts";
import type { Responder } from "../../helpers/recording-receiver.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
const relays: Relay[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await fixture?.cleanup();
  fixture = undefined;
});

async function setup(options: { responder?: Responder; delivery?: RelayConfigInput["delivery"] } = {}) {
  fixture = await relayFixture(options);
  return fixture;
}

function newRelay(extra: Partial<RelayOptions> = {}): Relay {
  if (!fixture) throw new Error("setup first");
  const relay = createRelay({
    config: fixture.config,
    instance: INSTANCE,
    audit: fixture.audit,
    stateDir: fixture.stateDir,
    random: () => 0.5,
    ...extra,
  });
  relays.push(relay);
  return relay;
}

const keysOf = (fx: RelayFixture) => fx.receiver.requests.map((r) => r.headers["idempotency-key"]);

describe("createRelay: retries", () => {
  it("retries 503 ×3 then delivers on 200, four requests with the same idempotency key", async () => {
    const fx = await setup({ responder: (_r, i) => ({ status: i < 3 ? 503 : 200, body: "busy" }) });
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time) });
    relay.submit(makeRun("f1"));
    await relay.drain();
    for (let i = 0; i < 3; i++) {
      expect(time.pending()).toBe(1);
      time.advance(60_000);
      await relay.drain();
    }

    expect(fx.receiver.requests).toHaveLength(4);
    expect(new Set(keysOf(fx)).size).toBe(1);
    expect(new Set(fx.receiver.requests.map((r) => r.body)).size).toBe(1);
    const records = await fx.records();
    expect(records.map((r) => r.phase)).toEqual([
      "accepted",
      ...["attempt", "retry_scheduled"]
        .flatMap((p) => [p])
        .concat(["attempt", "retry_scheduled"], ["attempt", "retry_scheduled"]),
      "attempt",
      "delivered",
    ]);
    expect(phase(records, "attempt").map((r) => r.attempt)).toEqual([1, 2, 3, 4]);
    expect(phase(records, "retry_scheduled")[0]).toMatchObject({ code: "DELIVERY_HTTP_STATUS", attempt: 1 });
    expect((await readdir(join(fx.stateDir, "outbox"))).sort()).toEqual(["failed", "holders", "staged"]);
    expect(stagedBatchFiles(fx.stateDir)).toEqual([]);
  });

  it("honours Retry-After: 2 — no attempt before 2 s", async () => {
    const fx = await setup({
      responder: (_r, i) => (i === 0 ? { status: 429, headers: { "retry-after": "2" } } : { status: 200 }),
      delivery: { initialDelayMs: 10, maxDelayMs: 60_000 },
    });
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time) });
    relay.submit(makeRun("f2"));
    await relay.drain();
    expect(time.delays).toEqual([2_000]);

    time.advance(1_999);
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(1);
    time.advance(1);
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(2);
    const retry = phase(await fx.records(), "retry_scheduled")[0];
    expect(retry).toMatchObject({ delayMs: 2_000, delaySource: "retry-after" });
  });

  it("backs off exponentially with jitter when there is no Retry-After", async () => {
    await setup({
      responder: () => ({ status: 500 }),
      delivery: { initialDelayMs: 1_000, factor: 2, maxDelayMs: 5_000, maxAttempts: 5 },
    });
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time), random: () => 0.5 });
    relay.submit(makeRun("f3"));
    await relay.drain();
    for (let i = 0; i < 4; i++) {
      time.advance(10_000);
      await relay.drain();
    }
    expect(time.delays).toEqual([500, 1_000, 2_000, 2_500]);
  });

  it("fails with DELIVERY_RETRIES_EXHAUSTED after maxAttempts and keeps the entry for redelivery", async () => {
    const fx = await setup({ responder: () => ({ status: 502 }), delivery: { maxAttempts: 3 } });
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time) });
    relay.submit(makeRun("f4"));
    await relay.drain();
    time.advance(60_000);
    await relay.drain();
    time.advance(60_000);
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(3);
    const failed = phase(await fx.records(), "failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      code: "DELIVERY_RETRIES_EXHAUSTED",
      attempts: 3,
      lastCode: "DELIVERY_HTTP_STATUS",
    });
    expect(await readdir(join(fx.stateDir, "outbox", "failed"))).toHaveLength(1);
    expect(time.pending()).toBe(0);
  });

  it("fails with DELIVERY_EXPIRED when the next attempt would pass maxAgeMs", async () => {
    const fx = await setup({
      responder: () => ({ status: 503, headers: { "retry-after": "3" } }),
      delivery: { maxAgeMs: 5_000, maxDelayMs: 60_000 },
    });
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time) });
    relay.submit(makeRun("f5"));
    await relay.drain();
    time.advance(3_000);
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(2);
    expect(phase(await fx.records(), "failed")[0]).toMatchObject({ code: "DELIVERY_EXPIRED", attempts: 2 });
  });

  it("fails a 401 at once with its hint, no retry", async () => {
    const fx = await setup({ responder: () => ({ status: 401, body: "Unauthorized" }) });
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time) });
    relay.submit(makeRun("f6"));
    await relay.drain();
    const records = await fx.records();
    expect(phase(records, "retry_scheduled")).toEqual([]);
    expect(phase(records, "failed")[0]).toMatchObject({ code: "DELIVERY_UNAUTHORIZED" });
    expect(String(phase(records, "failed")[0]?.hint)).toMatch(/token/);
    expect(time.pending()).toBe(0);
  });

  it("retries a slow receiver past the timeout with the same key, audited as unknown", async () => {
    const fx = await setup({
      responder: (_r, i) => (i === 0 ? { status: 200, delayMs: 1_000 } : { status: 200 }),
      delivery: { timeoutMs: 150 },
    });
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time) });
    relay.submit(makeRun("f7"));
    await relay.drain();
    time.advance(60_000);
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(2);
    expect(new Set(keysOf(fx)).size).toBe(1);
    const attempts = phase(await fx.records(), "attempt");
    expect(attempts[0]).toMatchObject({ code: "DELIVERY_TIMEOUT", result: "unknown" });
    expect(attempts[1]).toMatchObject({ result: "delivered" });
  });

  it("delivers once after the receiver comes back from being down", async () => {
    const fx = await setup();
    const port = fx.receiver.port;
    await fx.receiver.close(); // down: connections are refused
    const time = manualTime();
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time) });
    relay.submit(makeRun("f8"));
    await relay.drain();
    time.advance(60_000);
    await relay.drain();

    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(String(req.headers["idempotency-key"]));
      req.resume().on("end", () => res.end('{"ok":true}'));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    time.advance(60_000);
    await relay.drain();
    time.advance(60_000);
    await relay.drain();

    expect(seen).toHaveLength(1);
    const attempts = phase(await fx.records(), "attempt");
    expect(attempts.map((a) => a.code ?? "ok")).toEqual(["DELIVERY_NETWORK", "DELIVERY_NETWORK", "ok"]);
    expect(attempts[0]?.result).toBe("failed");
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
    expect(attempts.every((a) => a.idempotencyKey === seen[0])).toBe(true);
  });

  it("bounds requests in flight by delivery.concurrency", async () => {
    let inFlight = 0;
    let peak = 0;
    const fx = await setup({ delivery: { concurrency: 2 } });
    fx.receiver.respondWith(() => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => inFlight--, 40);
      return { status: 200, delayMs: 40 };
    });
    const relay = newRelay();
    for (let i = 0; i < 8; i++) relay.submit(makeRun(`c${i}`));
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(8);
    expect(peak).toBeLessThanOrEqual(2);
    expect(peak).toBe(2);
  });

  it("keeps no host process alive: a scheduled retry uses an unref'd timer", async () => {
    await setup({ responder: () => ({ status: 503, headers: { "retry-after": "60" } }) });
    const relay = newRelay();
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    relay.submit(makeRun("u1"));
    await relay.drain();
    expect(phase(await fixture!.records(), "retry_scheduled")).toHaveLength(1);
    const after = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    expect(after).toBeLessThanOrEqual(before);
  });
});

describe("createRelay: recovery", () => {
  /** An outbox entry as a crashed relay left it, with the crashed process's lease. */
  async function leftByCrash(fx: RelayFixture, runId: string, attempts = 1) {
    const run = makeRun(runId);
    const verdict = checkIntegrity(run, INSTANCE, fx.config);
    if (!verdict.ok) throw verdict.error;
    const callback = buildCallback(run, verdict, Date.now());
    const outbox = openOutbox(fx.stateDir);
    await outbox.put({ v: 1, callback, attempts, dueAt: Date.now() - 1, lastCode: "DELIVERY_TIMEOUT" });
    await outbox.close();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    const lease = join(fx.stateDir, "outbox", `${markerName(callback.dedupeKey)}.lease`);
    await writeFile(lease, JSON.stringify({ pid: dead, host: hostname(), holder: "gone", at: Date.now() }));
    return callback;
  }

  it("delivers a callback left in the outbox by a crash exactly once, with its key, on recover()", async () => {
    const fx = await setup();
    const callback = await leftByCrash(fx, "k1", 2);
    const a = newRelay();
    const b = newRelay();
    await Promise.all([a.recover(), b.recover(), a.recover()]);
    await Promise.all([a.drain(), b.drain()]);
    await a.recover();
    await a.drain();

    expect(fx.receiver.requests).toHaveLength(1);
    expect(fx.receiver.requests[0]?.headers["idempotency-key"]).toBe(callback.idempotencyKey);
    const records = await fx.records();
    expect(records.map((r) => r.phase)).toEqual(["recovered", "attempt", "delivered"]);
    expect(records[0]).toMatchObject({ runId: "k1", attempts: 2 });
    expect(records[1]).toMatchObject({ attempt: 3 });
    expect(
      (await readdir(join(fx.stateDir, "outbox"))).filter(
        (n) => n !== "failed" && n !== "staged" && n !== "holders",
      ),
    ).toEqual([]);
  });

  it("resumes after a restart: a relay closed mid-retry leaves the entry; the next one delivers it", async () => {
    const fx = await setup({ responder: (_r, i) => ({ status: i === 0 ? 503 : 200 }) });
    const t1 = manualTime();
    const first = newRelay({ now: t1.now, schedule: t1.schedule.bind(t1) });
    first.submit(makeRun("k2"));
    await first.drain();
    expect(t1.pending()).toBe(1);
    await first.close();
    expect(fx.receiver.requests).toHaveLength(1);

    const t2 = manualTime();
    const second = newRelay({ now: t2.now, schedule: t2.schedule.bind(t2) });
    second.submit(makeRun("k2")); // the plugin may see the run again after a restart
    await second.recover();
    await second.drain();
    expect(fx.receiver.requests).toHaveLength(1); // not due yet
    t2.advance(60_000);
    await second.drain();

    expect(fx.receiver.requests).toHaveLength(2);
    expect(new Set(keysOf(fx)).size).toBe(1);
    const records = await fx.records();
    expect(phase(records, "recovered")).toHaveLength(1);
    expect(phase(records, "deduped")).toHaveLength(1);
    expect(phase(records, "delivered")).toHaveLength(1);
  });

  it("audits an unreadable outbox entry and goes on", async () => {
    const fx = await setup();
    await leftByCrash(fx, "k3");
    await writeFile(join(fx.stateDir, "outbox", "junk.json"), "{");
    const relay = newRelay();
    await relay.recover();
    await relay.drain();
    const records = await fx.records();
    expect(phase(records, "failed")[0]).toMatchObject({ code: "INTERNAL", file: "junk.json" });
    expect(phase(records, "delivered")).toHaveLength(1);
    // Set aside once audited: a second recover() does not report it again.
    expect(await readdir(join(fx.stateDir, "outbox", "failed"))).toContain("junk.json.unreadable");
    await relay.recover();
    await relay.drain();
    expect(phase(await fx.records(), "failed")).toHaveLength(1);
  });

  it("prunes dedupe markers older than 30 days on recover()", async () => {
    const fx = await setup();
    const relay = newRelay();
    relay.submit(makeRun("k4"));
    await relay.drain();
    const dir = join(fx.stateDir, "dedupe");
    const [marker] = await readdir(dir);
    const old = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    const { utimes } = await import("node:fs/promises");
    await utimes(join(dir, marker!), old, old);
    await relay.recover();
    expect(await readdir(dir)).toEqual([]);
  });
});
