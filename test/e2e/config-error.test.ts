import { afterAll, beforeAll, expect, it } from "vitest";
import { type E2EWorld, startWorld } from "./e2e-context.ts";

/**
 * A broken callback-relay.jsonc disables the relay with one `config_error` record and one stderr
 * line; OpenCode goes on answering prompts, nothing is sent, and the tagged run is held (one `held`
 * record with the configuration's code; held-runs.test.ts delivers such runs after the fix).
 */

let world: E2EWorld;

beforeAll(async () => {
  // Valid JSONC, invalid configuration: target.url is not a URL.
  world = await startWorld({
    relayConfig: () =>
      `// e2e: broken on purpose\n{ "target": { "kind": "openclaw-agent", "url": "not a url" } }\n`,
  });
});

afterAll(async () => {
  await world?.close();
});

it("writes one config_error record naming the file and key, and OpenCode still answers", async () => {
  const session = await world.server.createSession(
    "Configured badly runId=run-cfg callbackSession=agent:main:e2e-cfg",
  );
  const answer = (await world.server.prompt(session.id, "hello")) as {
    info: { role: string; error?: unknown };
  };
  expect(answer.info.role).toBe("assistant");
  expect(answer.info.error).toBeUndefined();
  await world.server.prompt(session.id, "again");

  const [record] = await world.waitForAudit((r) => r.phase === "config_error");
  expect(record?.code).toBe("CONFIG_INVALID");
  expect(record?.file).toBe(`${world.server.configDir}/callback-relay.jsonc`);
  expect((record?.details as { key?: string } | undefined)?.key).toBe("target.url");
  // The record is written at init; the held record once the run's first busy has been journalled
  // (off the hook's stack, so it is awaited, not assumed).
  await world.waitForAudit((r) => r.phase === "held");
  expect(world.audit().map((r) => r.phase)).toEqual(["config_error", "held"]);
  expect(world.audit()[1]).toMatchObject({ sessionId: session.id, runId: "run-cfg", code: "CONFIG_INVALID" });
  expect(world.receiver.requests).toEqual([]);
  expect(world.server.output()).toContain("CONFIG_INVALID");
});
