import { spawnSync } from "node:child_process";
import { readdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Relay } from "../../../relay/core/create-relay.ts";
import { redeliver } from "../../../relay/delivery/redeliver.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import {
  makeRun,
  phase,
  type RelayFixture,
  redeliverOptions,
  relayFixture,
  relayOn,
} from "../../helpers/relay-fixture.ts";

/**
 * `audit redeliver --now` on a callback still pending (its retry is minutes away): sent now under
 * its lease when it is free; when a live relay holds it, that relay is nudged and sends it.
 * Never two senders at once.
 */

let fixture: RelayFixture | undefined;
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await fixture?.cleanup();
  fixture = undefined;
});

/** A relay whose callback for `runId` got a 503 and waits for a retry that never comes by itself. */
async function pendingRun(
  fx: RelayFixture,
  runId: string,
  extra: { nudgePollMs?: number } = {},
): Promise<Relay> {
  fx.receiver.respondWith(() => ({ status: 503 }));
  const live = relayOn(fx, {
    schedule: () => () => undefined,
    random: () => 0.5,
    notify: () => undefined,
    ...extra,
  });
  live.submit(makeRun(runId));
  await live.drain();
  expect(phase(await fx.records(), "retry_scheduled")).toHaveLength(1);
  return live;
}

/** A retry a minute away: the test, not a timer, decides what happens next. */
const MINUTE_BACKOFF = { initialDelayMs: 60_000, maxDelayMs: 60_000, timeoutMs: 2_000 };

const pendingFiles = async (fx: RelayFixture) =>
  (await readdir(join(fx.stateDir, "outbox"))).filter((name) => name.endsWith(".json"));

describe("redeliver a pending callback", () => {
  it("refuses without --now (REDELIVERY_PENDING, with its due time), sending nothing", async () => {
    fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
    relay = await pendingRun(fixture, "p1");
    const sent = fixture.receiver.requests.length;
    const result = await redeliver(redeliverOptions(fixture, "p1"));
    expect(result).toMatchObject({ ok: false, code: "REDELIVERY_PENDING", dueAt: expect.any(Number) });
    expect(fixture.receiver.requests).toHaveLength(sent);
  });

  it("with --now, nudges the live relay holding the lease, which attempts it at once: delivered once, same key", async () => {
    fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
    const fx = fixture;
    relay = await pendingRun(fx, "p2", { nudgePollMs: 20 });
    fx.receiver.respondWith(() => ({ status: 200 }));

    const result = await redeliver({ ...redeliverOptions(fx, "p2"), pending: true });

    expect(result).toMatchObject({ ok: true, nudged: true, holder: { pid: process.pid } });
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(2);
    const [first, second] = fx.receiver.requests;
    expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
    expect(await pendingFiles(fx)).toEqual([]);
    expect(await readdir(join(fx.stateDir, "outbox", "nudge"))).toEqual([]);
    const records = await fx.records();
    // The holder sent it, under its own lease: its attempt 2, then delivered.
    expect(records.slice(-3).map((r) => r.phase)).toEqual(["redelivery", "attempt", "delivered"]);
    expect(records.at(-3)).toMatchObject({ from: "pending", nudged: true, holder: { pid: process.pid } });
    expect(records.at(-2)).toMatchObject({ attempt: 2, status: 200 });
  });

  it("with --now, names the holder (REDELIVERY_LEASED) when it does not take the nudge in time, sends nothing and leaves no nudge", async () => {
    fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
    const fx = fixture;
    relay = await pendingRun(fx, "p5", { nudgePollMs: 60_000 });
    fx.receiver.respondWith(() => ({ status: 200 }));
    const result = await redeliver({ ...redeliverOptions(fx, "p5"), pending: true, nudgeHonourMs: 200 });
    expect(result).toMatchObject({
      ok: false,
      code: "REDELIVERY_LEASED",
      holder: { pid: process.pid },
      dueAt: expect.any(Number),
    });
    expect(fx.receiver.requests).toHaveLength(1);
    expect(await pendingFiles(fx)).toHaveLength(1);
    expect(await readdir(join(fx.stateDir, "outbox", "nudge"))).toEqual([]);
  });

  it("with --now and no live holder, sends it at once with the same key and removes it; a later recovery sends nothing", async () => {
    fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
    const fx = fixture;
    const stopped = await pendingRun(fx, "p3");
    await stopped.close(); // its holder is gone; the entry stays pending on disk
    expect(await pendingFiles(fx)).toHaveLength(1);
    fx.receiver.respondWith(() => ({ status: 200 }));

    const result = await redeliver({ ...redeliverOptions(fx, "p3"), pending: true });

    expect(result).toEqual({ ok: true, status: 200 });
    const [first, second] = fx.receiver.requests;
    expect(fx.receiver.requests).toHaveLength(2);
    expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
    expect(await pendingFiles(fx)).toEqual([]);
    const records = await fx.records();
    expect(records.slice(-3).map((r) => r.phase)).toEqual(["redelivery", "attempt", "delivered"]);
    expect(records.at(-3)).toMatchObject({
      from: "pending",
      attempts: 1,
      previousCode: "DELIVERY_HTTP_STATUS",
    });
    expect(records.at(-2)).toMatchObject({ attempt: 2, redelivery: true });

    relay = relayOn(fx);
    await relay.recover();
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(2);
  });

  it("with --now, leaves a callback that fails retryably again pending and due at once", async () => {
    fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
    const fx = fixture;
    await (await pendingRun(fx, "p4")).close();
    const result = await redeliver({ ...redeliverOptions(fx, "p4"), pending: true, now: () => 1_234 });
    expect(result).toMatchObject({
      ok: false,
      code: "DELIVERY_HTTP_STATUS",
      status: 503,
      stillPending: true,
    });
    const [name] = await pendingFiles(fx);
    const entry = JSON.parse(await readFile(join(fx.stateDir, "outbox", name!), "utf8"));
    expect(entry).toMatchObject({ attempts: 2, dueAt: 1_234, lastCode: "DELIVERY_HTTP_STATUS" });
    expect(await readdir(join(fx.stateDir, "outbox", "failed"))).toEqual([]);
  });

  describe("whose first attempt is in flight (staged and claimed, not yet in the outbox)", () => {
    /** A relay whose first attempt of `runId` the receiver holds; the promote timer never fires. */
    async function inFlight(fx: RelayFixture, runId: string) {
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      fx.receiver.respondWith(() => ({ status: 200, hold: held }));
      const live = relayOn(fx, { leases: { schedule: () => () => undefined } });
      live.submit(makeRun(runId));
      await fx.receiver.waitFor(1);
      expect(await pendingFiles(fx)).toEqual([]);
      return { live, release };
    }

    /**
     * Rename the batch staging `runId`'s callback (not the empty batch file made ahead beside it),
     * one part of its name (`<first>.<host>.<writer>.<nonce>.json`) rewritten: the same file, which
     * its claim links, as another writer leaves it. Returns the rename back.
     */
    async function renameBatch(fx: RelayFixture, runId: string, part: number, edit: (was: string) => string) {
      const stagedDir = join(fx.stateDir, "outbox", "staged");
      const names = await readdir(stagedDir);
      const texts = await Promise.all(names.map((name) => readFile(join(stagedDir, name), "utf8")));
      const batch = names.find((_, i) => texts[i]?.includes(`ses_${runId}`));
      if (batch === undefined) throw new Error(`no staged batch holds ${runId}`);
      const parts = batch.split(".");
      parts[part] = edit(parts[part] ?? "");
      const renamed = join(stagedDir, parts.join("."));
      await rename(join(stagedDir, batch), renamed);
      return () => rename(renamed, join(stagedDir, batch));
    }

    it("refuses as pending, naming the relay attempting it, not as unknown; --now is refused as held by it; nothing is sent twice", async () => {
      fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
      const fx = fixture;
      const { live, release } = await inFlight(fx, "f1");
      relay = live;

      const plain = await redeliver(redeliverOptions(fx, "f1"));
      expect(plain).toMatchObject({
        ok: false,
        code: "REDELIVERY_PENDING",
        holder: { pid: process.pid },
        reason: expect.stringMatching(/first attempt is in flight/),
      });
      const now = await redeliver({ ...redeliverOptions(fx, "f1"), pending: true });
      expect(now).toMatchObject({ ok: false, code: "REDELIVERY_LEASED", holder: { pid: process.pid } });
      expect(fx.receiver.requests).toHaveLength(1);

      release();
      await live.drain();
      expect(fx.receiver.requests).toHaveLength(1);
      expect(phase(await fx.records(), "delivered")).toHaveLength(1);
      // Delivered straight from its batch: now the log's word, no longer in flight.
      const after = await redeliver(redeliverOptions(fx, "f1"));
      expect(after).toMatchObject({ ok: false, code: "REDELIVERY_ALREADY_DELIVERED" });
    });

    it("delivered straight from a batch whose batch-mate is still in flight: delivered, not pending", async () => {
      fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
      const fx = fixture;
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      fx.receiver.respondWith((request) =>
        request.body.includes("ses_g2") ? { status: 200, hold: held } : { status: 200 },
      );
      const live = relayOn(fx, { leases: { schedule: () => () => undefined } });
      relay = live;
      // Submitted on one stack: g0 is written alone at once, g1 and g2 together in the next batch.
      for (const runId of ["g0", "g1", "g2"]) live.submit(makeRun(runId));
      await fx.receiver.waitFor(3);
      // Delivered (the audit log says so) straight from the batch g2 still holds open.
      await waitFor("g1 delivered", async () =>
        phase(await fx.records(), "delivered").some((r) => r.runId === "g1") ? true : undefined,
      );
      const stagedDir = join(fx.stateDir, "outbox", "staged");
      expect((await readdir(stagedDir)).filter((name) => name.endsWith(".delivered"))).toHaveLength(1);
      expect(await pendingFiles(fx)).toEqual([]);

      const result = await redeliver(redeliverOptions(fx, "g1"));
      expect(result).toMatchObject({ ok: false, code: "REDELIVERY_ALREADY_DELIVERED" });
      expect(await redeliver(redeliverOptions(fx, "g2"))).toMatchObject({
        ok: false,
        code: "REDELIVERY_PENDING",
      });

      release();
      await live.drain();
      expect(fx.receiver.requests).toHaveLength(3);
    });

    it("staged by a relay on another host sharing the state dir: refused as pending, saying so", async () => {
      fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
      const fx = fixture;
      const { live, release } = await inFlight(fx, "f3");
      relay = live;
      const back = await renameBatch(fx, "f3", 1, (host) => (host === "00000000" ? "11111111" : "00000000"));

      const result = await redeliver({ ...redeliverOptions(fx, "f3"), pending: true });
      expect(result).toMatchObject({
        ok: false,
        code: "REDELIVERY_PENDING",
        reason: expect.stringContaining("a relay on another host sharing this state dir"),
      });
      expect(fx.receiver.requests).toHaveLength(1);

      await back();
      release();
      await live.drain();
      expect(phase(await fx.records(), "delivered")).toHaveLength(1);
    });

    it("staged by a relay that no longer runs: refused as pending, for the next relay to send", async () => {
      fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
      const fx = fixture;
      const { live, release } = await inFlight(fx, "f2");
      relay = live;
      // The batch as a crashed process leaves it: named for a pid that has ended.
      const ended = spawnSync(process.execPath, ["-e", ""]).pid;
      const back = await renameBatch(fx, "f2", 2, () => String(ended));

      const result = await redeliver({ ...redeliverOptions(fx, "f2"), pending: true });
      expect(result).toMatchObject({
        ok: false,
        code: "REDELIVERY_PENDING",
        reason: expect.stringContaining(`no longer runs (pid ${ended})`),
      });
      expect(result.holder).toBeUndefined();
      expect(fx.receiver.requests).toHaveLength(1);

      await back();
      release();
      await live.drain();
      expect(phase(await fx.records(), "delivered")).toHaveLength(1);
    });
  });
});
