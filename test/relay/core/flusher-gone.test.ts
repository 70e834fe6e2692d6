import { afterEach, expect, it } from "vitest";
import type { Relay } from "../../../relay/core/create-relay.ts";
import { startFlusher } from "../../../relay/state/flusher.ts";
import { expectEachSentOnceDurable } from "../../helpers/expect-sent-once.ts";
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

  // The first run takes the spare, the second a new batch file: both jobs meet a gone thread.
  relay.submit(makeRun("goneA"));
  relay.submit(makeRun("goneB"));
  await relay.drain();
  await expectEachSentOnceDurable(fixture, fixture.stateDir, ["goneA", "goneB"]);

  // A later relay starts a new thread.
  const again = await startFlusher();
  expect(again).toBeDefined();
  expect(again).not.toBe(flusher);
});
