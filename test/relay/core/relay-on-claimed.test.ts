import { afterEach, describe, expect, it } from "vitest";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

/**
 * `onClaimed` is when the plugin retires a run's journal entry: only once the run is the relay's
 * for good (its claim on disk, a dedupe, or a refusal with a record), never before.
 */

let fixture: RelayFixture | undefined;
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  await fixture?.cleanup();
  fixture = relay = undefined;
});

async function setup() {
  fixture = await relayFixture();
  const fx = fixture;
  const calls: Array<{ key: string; markerOnDisk: boolean }> = [];
  const dedupe = openDedupeStore(fx.stateDir);
  const pending: Promise<void>[] = [];
  relay = createRelay({
    config: fx.config,
    instance: INSTANCE,
    audit: fx.audit,
    stateDir: fx.stateDir,
    onClaimed: (key) => {
      pending.push(dedupe.isClaimed(key).then((markerOnDisk) => void calls.push({ key, markerOnDisk })));
    },
  });
  return { fx, relay, calls, settle: () => Promise.all(pending) };
}

describe("createRelay onClaimed", () => {
  it("is called once the claim is on disk, and again for a deduped second terminal point", async () => {
    const { fx, relay, calls, settle } = await setup();
    relay.submit(makeRun("r1"));
    await relay.drain();
    relay.submit(makeRun("r1"));
    await relay.drain();
    await settle();
    expect(calls).toEqual([
      { key: "ses_r1|r1", markerOnDisk: true },
      { key: "ses_r1|r1", markerOnDisk: true },
    ]);
    expect(phase(await fx.records(), "deduped")).toHaveLength(1);
  });

  it("is called for a run refused by integrity, with its decoded runId", async () => {
    const { fx, relay, calls, settle } = await setup();
    relay.submit(makeRun("r%2D2", { tags: { callbackSession: "agent:other:x" } }));
    await relay.drain();
    await settle();
    expect(phase(await fx.records(), "integrity_error")).toHaveLength(1);
    expect(calls.map((c) => c.key)).toEqual(["ses_r%2D2|r%2D2"]);
  });
});
