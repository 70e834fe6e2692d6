import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { startFlusher } from "../../../relay/state/flusher.ts";
import { expectEachSentOnceDurable } from "../../helpers/expect-sent-once.ts";
import { type FreezableDisk, mountFreezableDisk } from "../../helpers/freezable-disk.ts";
import { isUnfilledSpare, stagedBatchFiles } from "../../helpers/pending-outbox-files.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

/**
 * A disk that holds the flush of a lone callback (the state dir on a real ext4 that is frozen,
 * `fsfreeze`) does not hold the caller: in OpenCode that is the event hook, and with it OpenCode's
 * whole event loop. The relay waits a few ms (flusher.ts), lets the write finish off the caller's
 * stack, and sends the callback once it is durable, once. The audit log stays on the ordinary disk.
 */

let fixture: RelayFixture | undefined;
let disk: FreezableDisk | undefined;
const relays: Relay[] = [];
afterEach(async () => {
  try {
    disk?.thaw();
    for (const relay of relays.splice(0)) await relay.close();
    await fixture?.cleanup();
  } finally {
    await disk?.remove();
    disk = undefined;
    fixture = undefined;
  }
});

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The dedupe markers in the state dir: one per claimed callback. */
const claims = (stateDir: string) =>
  readdirSync(join(stateDir, "dedupe")).filter((name) => name.endsWith(".json")).length;

/**
 * A relay whose state dir is on a new freezable disk, prepared as the plugin prepares it when a
 * tagged run starts (the folders, the spare, the flusher's thread), that work done; closed and
 * unmounted after the test.
 */
async function preparedOnFreezableDisk() {
  const mounted = await mountFreezableDisk();
  disk = mounted;
  const fx = await relayFixture();
  fixture = fx;
  const stateDir = join(mounted.dir, "state");
  const relay = relayAt(fx, stateDir);
  relay.prepare();
  await relay.drain();
  return { disk: mounted, fixture: fx, stateDir, relay };
}

/** A relay of `fx` with its state in `stateDir`, closed after the test. */
function relayAt(fx: RelayFixture, stateDir: string): Relay {
  const relay = createRelay({ config: fx.config, instance: INSTANCE, audit: fx.audit, stateDir });
  relays.push(relay);
  return relay;
}

it("a flush the disk holds returns the caller at once; the callback goes out once durable, once", async () => {
  const { disk, fixture, stateDir, relay } = await preparedOnFreezableDisk();
  const staged = join(stateDir, "outbox", "staged");
  const spares = readdirSync(staged)
    .map((name) => join(staged, name))
    .filter(isUnfilledSpare);
  expect(spares).toHaveLength(1);
  const spare = spares[0] as string;
  const spareIno = statSync(spare).ino;

  // A blocked process cannot thaw the disk itself: the watchdog does, and marks that it had to.
  disk.freeze(10_000);
  relay.submit(makeRun("frozen1"));
  await yieldToLoop(); // whatever submit left for the loop has run, too
  await yieldToLoop();
  expect(disk.thawedByWatchdog()).toBe(false);
  // Nothing went out before it was on disk: the spare still holds only its NULs.
  expect(fixture.receiver.requests).toHaveLength(0);
  expect(isUnfilledSpare(spare)).toBe(true);

  disk.thaw();
  await relay.drain();
  expect(fixture.receiver.requests).toHaveLength(1);
  const records = await fixture.records();
  expect(phase(records, "accepted")[0]).toMatchObject({ runId: "frozen1", durable: true });
  expect(phase(records, "state_error")).toEqual([]);
  expect(phase(records, "delivered")).toHaveLength(1);
  expect(disk.thawedByWatchdog()).toBe(false);
  expect(stagedBatchFiles(stateDir)).toEqual([]); // delivered: its batch's staged name is gone
  // It was staged into the spare: its dedupe marker is a link to the spare's inode, NULs cut.
  const dedupe = join(stateDir, "dedupe");
  const markers = readdirSync(dedupe).map((name) => statSync(join(dedupe, name)));
  expect(markers.filter((marker) => marker.ino === spareIno).length).toBeGreaterThan(0);
  expect(markers.every((marker) => marker.size < 32 * 1024)).toBe(true);
});

it("runs that end together on a frozen disk: neither holds the caller, each goes out once durable", async () => {
  const { disk, fixture, stateDir, relay } = await preparedOnFreezableDisk();

  disk.freeze(10_000);
  // The first takes the spare; the second a new batch file, which creating waits on a frozen disk.
  relay.submit(makeRun("frozenA"));
  relay.submit(makeRun("frozenB"));
  await yieldToLoop();
  await yieldToLoop();
  expect(disk.thawedByWatchdog()).toBe(false);
  expect(fixture.receiver.requests).toHaveLength(0);

  disk.thaw();
  await relay.drain();
  await expectEachSentOnceDurable(fixture, stateDir, ["frozenA", "frozenB"]);
  expect(disk.thawedByWatchdog()).toBe(false);
});

it("a flusher thread that died is started again: a flush the disk holds then returns the caller at once", async () => {
  const { disk, fixture, stateDir, relay } = await preparedOnFreezableDisk();
  const first = await startFlusher();
  expect(first).toBeDefined();
  await first?.stop(); // as when the thread dies on its own: the same path

  // The next run meets the gone thread: written on the caller's stack, sent once; the relay starts
  // a new thread meanwhile, with no prepare() from the plugin (it prepares once per process).
  relay.submit(makeRun("afterDeath"));
  await relay.drain();
  const second = await startFlusher(); // the relay's new thread, started when it met the gone one
  expect(second).toBeDefined();
  expect(second).not.toBe(first);
  await yieldToLoop(); // the relay has taken it up (its callback on the same start ran first)

  disk.freeze(10_000);
  relay.submit(makeRun("frozenAgain"));
  await yieldToLoop();
  await yieldToLoop();
  // Without a new thread the write would hold the caller until the watchdog's thaw.
  expect(disk.thawedByWatchdog()).toBe(false);
  expect(fixture.receiver.requests).toHaveLength(1);

  disk.thaw();
  await relay.drain();
  await expectEachSentOnceDurable(fixture, stateDir, ["afterDeath", "frozenAgain"]);
  expect(disk.thawedByWatchdog()).toBe(false);
});

it("a thread that dies again within a minute of its restart is not started again at once: the caller writes", async () => {
  const { disk, fixture, stateDir, relay } = await preparedOnFreezableDisk();
  await (await startFlusher())?.stop();
  relay.submit(makeRun("dies1"));
  await relay.drain();
  const restarted = await startFlusher();
  await yieldToLoop();
  await restarted?.stop(); // dies again, at once

  // Meets the gone thread again: no new one for the rest of the pause (FLUSHER_RESTART_PAUSE_MS),
  // so the next write is the caller's, and a frozen disk holds it until the watchdog's thaw.
  relay.submit(makeRun("dies2"));
  await relay.drain();
  // A thread is there to take up (this test's start): the relay does not, during the pause.
  expect(await startFlusher()).toBeDefined();
  await yieldToLoop();
  const before = claims(stateDir);
  disk.freeze(1_500);
  relay.submit(makeRun("dies3"));
  // Written, flushed and claimed before submit returned, so after the thaw: on the caller's stack.
  // (Through a thread, the claim would wait for a flush that waits for the watchdog.)
  expect(claims(stateDir)).toBe(before + 1);

  await relay.drain();
  await expectEachSentOnceDurable(fixture, stateDir, ["dies1", "dies2", "dies3"]);
});

it("close() while a flush is held by the disk: waits for it, sends nothing, and the next relay sends it once", async () => {
  const { disk, fixture, stateDir, relay } = await preparedOnFreezableDisk();

  disk.freeze(1_000);
  relay.submit(makeRun("closing"));
  await yieldToLoop();
  expect(disk.thawedByWatchdog()).toBe(false); // submit returned at once
  // The write cannot be taken back, nor its callback left half accepted: close() waits for the
  // disk (the watchdog's thaw), and the callback is staged and claimed when it resolves.
  const before = claims(stateDir);
  await relay.close();
  expect(claims(stateDir)).toBe(before + 1);
  expect(fixture.receiver.requests).toHaveLength(0); // closed: not sent

  // Kept in the state dir: the next relay's recovery sends it, once.
  const next = relayAt(fixture, stateDir);
  await next.recover();
  await next.drain();
  await expectEachSentOnceDurable(fixture, stateDir, ["closing"]);
});
