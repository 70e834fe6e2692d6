import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_TIMEOUT_MS } from "../../../relay/config/config-schema.ts";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

/**
 * A busy OpenClaw caller session as the gateway really answers it: the request is held for the
 * admission wait (15 s), then a 503 with no Retry-After. Scaled down 20× in time, and the relay runs
 * with its OpenClaw default timeout scaled the same way, so the test is about the default.
 */
const SCALE = 1 / 20;
const ADMISSION_WAIT_MS = 15_000 * SCALE; // 750 ms
const BUSY_BODY = '{"error":"hook agent run did not start before admission timeout","runId":"r-9"}';

let fixture: RelayFixture | undefined;
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  await fixture?.cleanup();
  relay = undefined;
  fixture = undefined;
});

describe("a busy OpenClaw caller session", () => {
  it("is seen as the gateway's 503 after its wait, retried with the same key, then delivered", async () => {
    fixture = await relayFixture({
      responder: (_r, i) =>
        i === 0
          ? { status: 503, body: BUSY_BODY, delayMs: ADMISSION_WAIT_MS }
          : { status: 200, body: '{"ok":true}' },
      delivery: { timeoutMs: Math.round(DEFAULT_TIMEOUT_MS["openclaw-agent"] * SCALE) },
    });
    const fx = fixture;
    relay = createRelay({ config: fx.config, instance: INSTANCE, audit: fx.audit, stateDir: fx.stateDir });
    relay.submit(makeRun("busy1"));
    await fx.receiver.waitFor(2);
    await relay.drain(); // the second attempt is in flight once the receiver has it

    const records = await fx.records();
    const attempts = phase(records, "attempt");
    expect(attempts[0]).toMatchObject({ status: 503, code: "DELIVERY_HTTP_STATUS", result: "failed" });
    expect(phase(records, "retry_scheduled")[0]).toMatchObject({ delaySource: "backoff" });
    expect(attempts[1]).toMatchObject({ status: 200, result: "delivered" });
    expect(phase(records, "delivered")).toHaveLength(1);
    const keys = fx.receiver.requests.map((r) => r.headers["idempotency-key"]);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(1);
  });
});
