import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type { Relay } from "../../../relay/core/create-relay.ts";
import { startFlusher } from "../../../relay/state/flusher.ts";
import { expectEachSentOnceDurable } from "../../helpers/expect-sent-once.ts";
import { isUnfilledSpare } from "../../helpers/pending-outbox-files.ts";
import { makeRun, type RelayFixture, relayFixture, relayOn } from "../../helpers/relay-fixture.ts";

/**
 * The flusher's thread (relay/state/flusher.ts) can die with the process still running (a worker
 * thread ends on its own error). The disk may be fine: the relay writes on the caller's stack
 * then, and every callback is still durable before it is sent, and sent once.
 */

let fixture: RelayFixture | undefined;
const relays: Relay[] = [];
afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  await fixture?.cleanup();
  fixture = undefined;
});

it("a flusher thread that is gone: the spare's batch and a new file's are written on the caller's stack", async () => {
  fixture = await relayFixture();
  const relay = relayOn(fixture);
  relays.push(relay);
  relay.prepare(); // the folders, the spare and the flusher's thread, as the plugin does
  await relay.drain();
  const flusher = await startFlusher();
  expect(flusher).toBeDefined();
  await flusher?.stop();
  const staged = join(fixture.stateDir, "outbox", "staged");

  // The first run takes the spare, the second a new batch file: both jobs meet a gone thread.
  relay.submit(makeRun("goneA"));
  relay.submit(makeRun("goneB"));
  await relay.drain();
  await expectEachSentOnceDurable(fixture, fixture.stateDir, ["goneA", "goneB"]);

  // The relay has let go of the gone thread (and started a new one, flush-stall.test.ts): a later
  // lone run fills the spare made meanwhile, rather than failing on the gone thread and throwing
  // the spare away.
  await relay.drain();
  const spares = readdirSync(staged).filter((name) => isUnfilledSpare(join(staged, name)));
  expect(spares).toHaveLength(1);
  const spareIno = statSync(join(staged, spares[0] as string)).ino;
  relay.submit(makeRun("goneC"));
  await relay.drain();
  const dedupe = join(fixture.stateDir, "dedupe");
  const markers = readdirSync(dedupe).map((name) => statSync(join(dedupe, name)).ino);
  expect(markers).toContain(spareIno);

  // A later relay starts a new thread.
  const again = await startFlusher();
  expect(again).toBeDefined();
  expect(again).not.toBe(flusher);
});
