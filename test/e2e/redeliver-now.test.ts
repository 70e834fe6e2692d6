import { afterAll, beforeAll, expect, it } from "vitest";
import { main } from "../../scripts/cli/cli.ts";
import { captureIO } from "../helpers/capture-io.ts";
import { E2E_TOKEN, type E2EWorld, forSession, relayConfigFor, startWorld } from "./e2e-context.ts";

/**
 * `audit redeliver --now` while the relay inside a real `opencode serve` holds the pending callback:
 * the CLI nudges it, and that process sends the callback at once under its own lease — once.
 */

let world: E2EWorld;

beforeAll(async () => {
  world = await startWorld({
    relayConfig: (url) =>
      relayConfigFor(url, {
        delivery: { timeoutMs: 2_000, maxAttempts: 5, maxDelayMs: 300_000, maxAgeMs: 600_000 },
      }),
  });
});

afterAll(async () => {
  await world?.close();
});

it("has the OpenCode process holding a pending callback send it now, with the same key, once", async () => {
  // Busy: retry in 2 minutes (Retry-After), so only the nudge can bring the next attempt now.
  world.receiver.respondWith(() => ({ status: 503, headers: { "retry-after": "120" } }));
  const session = await world.server.createSession(
    "Push now runId=run-now callbackSession=agent:main:e2e-now",
  );
  await world.server.prompt(session.id, "hello");
  const [scheduled] = await world.waitForAudit(
    (r) => r.sessionId === session.id && r.phase === "retry_scheduled",
  );
  expect(scheduled?.delayMs).toBe(120_000);
  world.receiver.respondWith(() => ({ status: 200, body: '{"ok":true}' }));

  const io = captureIO(world.server.projectDir, {
    OCR_E2E_TOKEN: E2E_TOKEN,
    HOME: world.server.home,
    XDG_DATA_HOME: world.server.dataHome,
    XDG_STATE_HOME: world.server.stateHome,
  });
  const code = await main(
    ["audit", "redeliver", "run-now", "--now", "--config-dir", world.server.configDir],
    io,
  );

  expect({ code, err: io.err() }).toEqual({ code: 0, err: "" });
  expect(io.out()).toContain("nudged");
  expect(io.out()).not.toContain(`pid ${process.pid} `);
  await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "delivered");
  expect(world.receiver.requests).toHaveLength(2);
  const [first, second] = world.receiver.requests;
  expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
  const phases = forSession(world.audit(), session.id).map((r) => r.phase);
  expect(phases).toEqual(["accepted", "attempt", "retry_scheduled", "redelivery", "attempt", "delivered"]);
});
