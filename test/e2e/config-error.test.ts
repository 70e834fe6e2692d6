import { afterAll, beforeAll, expect, it } from "vitest";
import { type E2EWorld, startWorld } from "./e2e-context.ts";

/**
 * A broken callback-relay.jsonc disables the relay with one `config_error` record and one stderr
 * line; OpenCode goes on answering prompts and nothing is sent.
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
  // The record is written at init, and a plugin refused at init registers no event hook: both
  // turns are over (their prompts returned), so nothing more can come from them.
  expect(world.audit().map((r) => r.phase)).toEqual(["config_error"]);
  expect(world.receiver.requests).toEqual([]);
  expect(world.server.output()).toContain("CONFIG_INVALID");
});
