import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { type E2EWorld, forSession, relayConfigFor, startWorld } from "./e2e-context.ts";

/**
 * The callback target is a port nobody listens on: delivery fails with DELIVERY_NETWORK, is
 * retried, then fails for good, all audited; OpenCode itself never notices.
 */

let world: E2EWorld;

beforeAll(async () => {
  const closedPort = await freePort();
  world = await startWorld({ relayConfig: () => relayConfigFor(`http://127.0.0.1:${closedPort}`) });
});

afterAll(async () => {
  await world?.close();
});

it("audits DELIVERY_NETWORK attempts, a scheduled retry and a final failure when the receiver is down", async () => {
  const session = await world.server.createSession(
    "Unreachable runId=run-down callbackSession=agent:main:e2e-down",
  );
  await world.server.prompt(session.id, "hello");

  await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "failed", 1, 15_000);
  const records = forSession(world.audit(), session.id);
  expect(records.map((r) => r.phase)).toEqual([
    "accepted",
    "attempt",
    "retry_scheduled",
    "attempt",
    "failed",
  ]);
  for (const attempt of records.filter((r) => r.phase === "attempt"))
    expect(attempt.code).toBe("DELIVERY_NETWORK");
  expect(records.find((r) => r.phase === "retry_scheduled")?.code).toBe("DELIVERY_NETWORK");
  expect(records.at(-1)?.code).toBe("DELIVERY_RETRIES_EXHAUSTED");
  // The final failure is also one line on OpenCode's own stderr, with the code and the fix.
  const noticed = (line: string) =>
    line.startsWith("opencode-callback-relay: ") &&
    line.includes('run "run-down"') &&
    line.includes("DELIVERY_RETRIES_EXHAUSTED") &&
    line.includes("last DELIVERY_NETWORK") &&
    line.includes("audit redeliver run-down");
  await waitFor("the failure notice on stderr", () =>
    world.server.output().split("\n").some(noticed) ? true : undefined,
  );
  expect(world.server.output().split("\n").filter(noticed)).toHaveLength(1);
});

it("leaves OpenCode answering prompts while deliveries fail", async () => {
  const session = await world.server.createSession(
    "Still works runId=run-down-2 callbackSession=agent:main:e2e-down",
  );
  const asked = world.model.requests.length;
  const started = performance.now();
  const answer = (await world.server.prompt(session.id, "follow-up")) as {
    info: { role: string; error?: unknown };
  };
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(answer.info.role).toBe("assistant");
  expect(answer.info.error).toBeUndefined();
  expect(world.model.requests.length).toBeGreaterThan(asked);
  await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "attempt");
});
