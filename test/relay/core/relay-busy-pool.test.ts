import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readdirSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { makeRun, phase, type RelayFixture, relayFixture, relayOn } from "../../helpers/relay-fixture.ts";

/**
 * OpenCode after a turn fills the thread pool that asynchronous file calls run on (it re-reads
 * the session's stored messages): a callback whose durable write waits in that queue arrives tens
 * of ms late (BENCHMARKS.md, history). Here the pool is held for as long as the test likes: each
 * of its threads is stuck opening a FIFO nobody writes to, until the test opens the write ends.
 */
async function holdThreadPool(dir: string): Promise<{ release(): Promise<void> }> {
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const fifos = Array.from({ length: size }, (_, i) => join(dir, `pool-${i}.fifo`));
  for (const fifo of fifos) execFileSync("mkfifo", [fifo]);
  const opens = fifos.map((fifo) => open(fifo, "r"));
  return {
    async release() {
      // A non-blocking open for writing succeeds once the reader's open is waiting: poll until
      // each is (the pool's thread may not have reached open() yet).
      for (const fifo of fifos) {
        for (;;) {
          try {
            closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
            break;
          } catch {
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        }
      }
      for (const handle of await Promise.all(opens)) await handle.close();
    },
  };
}

let fixture: RelayFixture | undefined;

afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

describe("the first attempt while the thread pool is busy", () => {
  it("is durable and sent without waiting for a single asynchronous file call", async () => {
    let claimedWhenSent: string[] = [];
    fixture = await relayFixture({
      responder: () => {
        // The marker (a link to the staged batch) exists before the receiver sees anything.
        claimedWhenSent = readdirSync(join(fixture!.stateDir, "dedupe"));
        return { status: 200, body: "{}" };
      },
    });
    const fx = fixture;
    const relay = relayOn(fx);
    try {
      // Warm: folders made, the audit head known, the connection open.
      relay.submit(makeRun("warm"));
      await relay.drain();
      const pool = await holdThreadPool(fx.dir);
      try {
        relay.submit(makeRun("busy"));
        await fx.receiver.waitFor(2, 10_000);
        expect(claimedWhenSent).toContain(`${markerName("ses_busy|busy")}.json`);
      } finally {
        await pool.release();
      }
      await relay.drain();
      const accepted = phase(await fx.records(), "accepted").find((r) => r.runId === "busy");
      expect(accepted).toMatchObject({ durable: true });
      expect(phase(await fx.records(), "delivered").map((r) => r.runId)).toEqual(["warm", "busy"]);
    } finally {
      await relay.close();
    }
  });
});
