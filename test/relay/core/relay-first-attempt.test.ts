import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Relay, RelayOptions } from "../../../relay/core/create-relay.ts";
import { PROMOTE_AFTER_MS } from "../../../relay/delivery/delivery-loop.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import { manualTime } from "../../helpers/manual-time.ts";
import { pendingOutboxFiles } from "../../helpers/pending-outbox-files.ts";
import type { Reply } from "../../helpers/recording-receiver.ts";
import { makeRun, phase, type RelayFixture, relayFixture, relayOn } from "../../helpers/relay-fixture.ts";

/**
 * A callback's first attempt goes out from its staged batch and its claim alone: delivered, it is
 * never leased nor promoted to a pending entry. It is promoted (leased, pending) when the attempt
 * does not deliver it, when the attempt is still in flight after PROMOTE_AFTER_MS (another
 * process's recovery takes staged batches past HALF_WRITTEN_MS), and when the relay closes with it
 * unsent.
 */

let fixture: RelayFixture | undefined;
const relays: Relay[] = [];
const releases: Array<() => void> = [];
afterEach(async () => {
  for (const release of releases.splice(0)) release();
  for (const relay of relays.splice(0)) await relay.close();
  await fixture?.cleanup();
  fixture = undefined;
});

/** A relay on the fixture, closed after the test. */
function newRelay(extra: Partial<RelayOptions> = {}): Relay {
  if (!fixture) throw new Error("setup first");
  const relay = relayOn(fixture, extra);
  relays.push(relay);
  return relay;
}

/** A reply held until the test releases it. */
function heldReply(status = 200): { reply: Reply; release: () => void } {
  let release = () => {};
  const hold = new Promise<void>((resolve) => {
    release = resolve;
  });
  releases.push(release);
  return { reply: { status, body: '{"ok":true}', hold }, release };
}

const names = (paths: string[]) => paths.map((p) => p.split("/").at(-1) ?? "").sort();
const dedupeFiles = async (fx: RelayFixture) => (await readdir(join(fx.stateDir, "dedupe"))).sort();
const keyOf = (runId: string) => `ses_${runId}|${runId}`;

describe("createRelay: the first attempt, from the staged batch", () => {
  it("delivers without a lease or a pending entry; the marker keeps the callback for --force", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const relay = newRelay();
    relay.submit(makeRun("f1"));
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(1);
    expect(pendingOutboxFiles(fx.stateDir)).toEqual([]);
    // No lease was taken: not even the keeper's holder file was written.
    expect(await readdir(join(fx.stateDir, "outbox", "holders"))).toEqual([]);
    // One marker, still the staged batch's inode (it holds the callback's line); its `.delivered`
    // link went with the batch.
    const marker = `${markerName(keyOf("f1"))}.json`;
    expect(await dedupeFiles(fx)).toEqual([marker]);
    const text = await readFile(join(fx.stateDir, "dedupe", marker), "utf8");
    expect(text).toContain(String(fx.receiver.requests[0]?.headers["idempotency-key"]));
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
  });

  it("promotes a first attempt still in flight after PROMOTE_AFTER_MS, and forgets it once delivered", async () => {
    const held = heldReply();
    // Held far longer than PROMOTE_AFTER_MS could ever take, never timed out meanwhile.
    fixture = await relayFixture({ responder: () => held.reply, delivery: { timeoutMs: 120_000 } });
    const fx = fixture;
    const time = manualTime(Date.now());
    const relay = newRelay({ leases: { schedule: time.schedule.bind(time) } });
    relay.submit(makeRun("f2"));
    await fx.receiver.waitFor(1);
    const pending = `${markerName(keyOf("f2"))}.json`;
    const lease = `${markerName(keyOf("f2"))}.lease`;
    // In flight, not promoted yet: only the staged batch.
    expect(names(pendingOutboxFiles(fx.stateDir)).filter((n) => n === pending || n === lease)).toEqual([]);

    time.advance(PROMOTE_AFTER_MS);
    await waitFor("the callback leased and pending", () => {
      const files = names(pendingOutboxFiles(fx.stateDir));
      return files.includes(pending) && files.includes(lease) && files.length === 2 ? files : undefined;
    });

    held.release();
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(1);
    expect(pendingOutboxFiles(fx.stateDir)).toEqual([]);
    expect(await dedupeFiles(fx)).toEqual([pending]);
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
  });

  it("promotes a first attempt that does not deliver before its retry waits", async () => {
    fixture = await relayFixture({ responder: (_, i) => (i === 0 ? { status: 503 } : { status: 200 }) });
    const fx = fixture;
    const time = manualTime();
    // Jitter fixed: a random one can make the retry due at once.
    const relay = newRelay({ now: time.now, schedule: time.schedule.bind(time), random: () => 0.5 });
    relay.submit(makeRun("f3"));
    await relay.drain();
    expect(phase(await fx.records(), "retry_scheduled")).toHaveLength(1);
    const stem = markerName(keyOf("f3"));
    expect(names(pendingOutboxFiles(fx.stateDir))).toEqual([`${stem}.json`, `${stem}.lease`]);
    const entry = JSON.parse(await readFile(join(fx.stateDir, "outbox", `${stem}.json`), "utf8"));
    expect(entry).toMatchObject({ attempts: 1 });

    time.advance(fx.config.delivery.maxDelayMs);
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(2);
    expect(pendingOutboxFiles(fx.stateDir)).toEqual([]);
  });

  it("promotes on close a callback whose attempt stop() kept from going out; the next relay sends it", async () => {
    const held = heldReply();
    fixture = await relayFixture({
      responder: (_, i) => (i === 0 ? held.reply : { status: 200 }),
      delivery: { concurrency: 1, timeoutMs: 120_000 },
    });
    const fx = fixture;
    const relay = newRelay();
    relay.submit(makeRun("f4"));
    relay.submit(makeRun("f5")); // waits for the one delivery slot
    await fx.receiver.waitFor(1);
    const closing = relay.close();
    held.release();
    await closing;
    relays.length = 0;
    expect(fx.receiver.requests).toHaveLength(1);
    // f5 was never sent: it waits in the outbox as a pending entry (its lease released on close).
    const stem = markerName(keyOf("f5"));
    expect(names(pendingOutboxFiles(fx.stateDir))).toEqual([`${stem}.json`]);

    const next = newRelay();
    await next.recover();
    await next.drain();
    expect(fx.receiver.requests.map((r) => (r.json as { message: string }).message.split("\n")[0])).toEqual([
      expect.stringContaining("f4"),
      expect.stringContaining("f5"),
    ]);
    expect(pendingOutboxFiles(fx.stateDir)).toEqual([]);
  });
});
