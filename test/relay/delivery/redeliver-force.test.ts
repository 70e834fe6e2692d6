import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { redeliver } from "../../../relay/delivery/redeliver.ts";
import {
  makeRun,
  phase,
  type RelayFixture,
  redeliverOptions,
  relayFixture,
  relayOn,
} from "../../helpers/relay-fixture.ts";

/** `audit redeliver --force` on a delivered callback: the receiver lost it, resend with the same key. */

let fixture: RelayFixture | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

async function deliverRun(fx: RelayFixture, runId: string): Promise<void> {
  const relay = relayOn(fx);
  relay.submit(makeRun(runId));
  await relay.drain();
  await relay.close();
  expect(phase(await fx.records(), "delivered")).toHaveLength(1);
}

describe("redeliver --force", () => {
  it("refuses a delivered callback without it, then resends the same request with the same key, recorded as forced", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await deliverRun(fx, "d1");
    expect(await redeliver(redeliverOptions(fx, "d1"))).toEqual({
      ok: false,
      code: "REDELIVERY_ALREADY_DELIVERED",
    });
    expect(fx.receiver.requests).toHaveLength(1);

    const result = await redeliver({ ...redeliverOptions(fx, "d1"), force: true });

    expect(result).toEqual({ ok: true, status: 200 });
    expect(fx.receiver.requests).toHaveLength(2);
    const [first, second] = fx.receiver.requests;
    expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
    expect(second?.body).toBe(first?.body);
    const records = await fx.records();
    expect(records.slice(-3).map((r) => r.phase)).toEqual(["redelivery", "attempt", "delivered"]);
    expect(records.at(-3)).toMatchObject({ runId: "d1", forced: true, from: "delivered", attempts: 1 });
    expect(records.at(-2)).toMatchObject({ attempt: 2, redelivery: true, status: 200 });
    // The dedupe claim stays: the run never calls back by itself again, and can be forced again.
    expect(await readdir(join(fx.stateDir, "dedupe"))).toHaveLength(1);
    expect((await redeliver({ ...redeliverOptions(fx, "d1"), force: true })).ok).toBe(true);
    expect(fx.receiver.requests).toHaveLength(3);
  });

  it("resends a callback that was staged in one batch with others (its marker holds several lines)", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const relay = relayOn(fx);
    // Submitted together: one group commit, one staged file, both markers linked to it.
    relay.submit(makeRun("b1"));
    relay.submit(makeRun("b2"));
    await relay.drain();
    await relay.close();
    const markers = await readdir(join(fx.stateDir, "dedupe"));
    const inodes = new Set(
      await Promise.all(markers.map(async (m) => (await stat(join(fx.stateDir, "dedupe", m))).ino)),
    );
    expect(markers).toHaveLength(2);
    expect(inodes.size).toBe(1);

    for (const runId of ["b1", "b2"]) {
      expect(await redeliver({ ...redeliverOptions(fx, runId), force: true })).toEqual({
        ok: true,
        status: 200,
      });
    }
    const sent = fx.receiver.requests.map((r) => r.headers["idempotency-key"]);
    expect(sent).toHaveLength(4);
    expect(sent.slice(2)).toEqual(sent.slice(0, 2));
  });

  it("records a forced resend the receiver refuses as failed, changing nothing on disk", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await deliverRun(fx, "d2");
    fx.receiver.respondWith(() => ({ status: 401 }));
    const result = await redeliver({ ...redeliverOptions(fx, "d2"), force: true });
    expect(result).toEqual({ ok: false, code: "DELIVERY_UNAUTHORIZED", status: 401 });
    expect(phase(await fx.records(), "failed").at(-1)).toMatchObject({
      code: "DELIVERY_UNAUTHORIZED",
      redelivery: true,
    });
    expect(await readdir(join(fx.stateDir, "outbox", "failed")).catch(() => [])).toEqual([]);
  });

  it("says REDELIVERY_NOT_FOUND when the dedupe marker no longer holds the callback (pruned)", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await deliverRun(fx, "d3");
    await rm(join(fx.stateDir, "dedupe"), { recursive: true });
    expect(await redeliver({ ...redeliverOptions(fx, "d3"), force: true })).toEqual({
      ok: false,
      code: "REDELIVERY_NOT_FOUND",
      reason: "delivered, but its dedupe marker no longer holds the callback",
    });
    expect(fx.receiver.requests).toHaveLength(1);
  });
});
