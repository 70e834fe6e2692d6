import { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { configSchema } from "../../../relay/config/config-schema.ts";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { EXCERPT_READ_MS, sendAttempt } from "../../../relay/delivery/send-attempt.ts";
import { type DrippingServer, startDrippingServer } from "../../helpers/dripping-server.ts";
import {
  INSTANCE,
  makeRun,
  phase,
  type RelayFixture,
  relayFixture,
  TOKEN,
} from "../../helpers/relay-fixture.ts";

let server: DrippingServer | undefined;
let agent: Agent | undefined;
let fixture: RelayFixture | undefined;
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  await agent?.close();
  await server?.close();
  await fixture?.cleanup();
  relay = agent = server = fixture = undefined;
});

const wire = (url: string) => ({
  url,
  method: "POST" as const,
  headers: { "content-type": "application/json" },
  body: '{"message":"hi"}',
});

describe.each(["undici", "fetch"] as const)(
  "status decides, through %s: a body that drips after the status line",
  (transport) => {
    it("a 2xx is delivered with the excerpt that arrived, within the excerpt bound, not a timeout", async () => {
      server = await startDrippingServer(200);
      agent = new Agent();
      const timeoutMs = EXCERPT_READ_MS + 2_000;
      const result = await sendAttempt(wire(`${server.url}/hooks/agent`), {
        dispatcher: agent,
        transport,
        timeoutMs,
      });
      expect(result).toMatchObject({ verdict: "delivered", result: "delivered", status: 200 });
      expect(result.code).toBeUndefined();
      expect(result.responseExcerpt.startsWith('{"ok":true,"runId":"r-')).toBe(true);
      expect(result.durationMs).toBeLessThan(timeoutMs);
    });

    it("a 2xx is delivered even when the attempt's timeout ends the drip first", async () => {
      server = await startDrippingServer(200);
      agent = new Agent();
      const result = await sendAttempt(wire(`${server.url}/x`), {
        dispatcher: agent,
        transport,
        timeoutMs: 300,
      });
      expect(result).toMatchObject({ verdict: "delivered", result: "delivered", status: 200 });
    });

    it("a 503 whose body drips is the retryable 503 it says, not a timeout", async () => {
      server = await startDrippingServer(503);
      agent = new Agent();
      const result = await sendAttempt(wire(`${server.url}/x`), {
        dispatcher: agent,
        transport,
        timeoutMs: 300,
      });
      expect(result).toMatchObject({
        verdict: "retry",
        result: "failed",
        status: 503,
        code: "DELIVERY_HTTP_STATUS",
      });
    });
  },
);

describe("status decides: the relay", () => {
  it("the relay records a dripping 2xx as delivered, once: one request, no retry", async () => {
    fixture = await relayFixture();
    server = await startDrippingServer(200);
    const config = configSchema.parse({
      target: { url: `${server.url}/hooks`, token: TOKEN },
      delivery: { timeoutMs: 400, initialDelayMs: 10, maxDelayMs: 50 },
    });
    relay = createRelay({ config, instance: INSTANCE, audit: fixture.audit, stateDir: fixture.stateDir });
    relay.submit(makeRun("drip1"));
    await relay.drain();
    await relay.recover(); // nothing is left to resume
    await relay.drain();

    expect(server.requests).toBe(1);
    const records = await fixture.records();
    expect(records.map((r) => r.phase)).toEqual(["accepted", "attempt", "delivered"]);
    expect(phase(records, "attempt")[0]).toMatchObject({ status: 200, result: "delivered" });
  });
});
