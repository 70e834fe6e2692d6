import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyAudit } from "../../relay/audit/verify-audit.ts";
import { createRelay } from "../../relay/core/create-relay.ts";
import { main } from "../../scripts/cli/cli.ts";
import { captureIO } from "../helpers/capture-io.ts";
import { INSTANCE, makeRun, type RelayFixture, relayFixture, TOKEN } from "../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

/** A config dir whose callback-relay.jsonc points at the fixture's receiver, log and state. */
async function writeConfig(fx: RelayFixture): Promise<void> {
  await writeFile(
    join(fx.dir, "callback-relay.jsonc"),
    `// written by the test\n${JSON.stringify({
      target: { url: `${fx.receiver.url}/hooks`, token: "{env:TEST_HOOKS_TOKEN}" },
      audit: { path: fx.auditPath },
      stateDir: fx.stateDir,
    })}\n`,
  );
}

describe("audit redeliver", () => {
  it("resends a callback that failed with 401 once the token is fixed, with the same idempotency key", async () => {
    fixture = await relayFixture({ responder: () => ({ status: 401, body: "Unauthorized" }) });
    const fx = fixture;
    const relay = createRelay({
      config: fx.config,
      instance: INSTANCE,
      audit: fx.audit,
      stateDir: fx.stateDir,
    });
    relay.submit(makeRun("rd1"));
    await relay.drain();
    await relay.close();
    await fx.audit.flush();
    expect((await fx.records()).map((r) => r.phase)).toContain("failed");

    fx.receiver.respondWith(() => ({ status: 200, body: '{"ok":true}' }));
    await writeConfig(fx);
    const io = captureIO(fx.dir, { TEST_HOOKS_TOKEN: TOKEN, HOME: fx.dir });
    const code = await main(["audit", "redeliver", "rd1", "--config-dir", fx.dir], io);

    expect(code).toBe(0);
    expect(fx.receiver.requests).toHaveLength(2);
    const [first, second] = fx.receiver.requests;
    expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
    expect(second?.body).toBe(first?.body);
    const lines = (await readFile(fx.auditPath, "utf8")).trim().split("\n");
    const phases = lines.map((line) => (JSON.parse(line) as { phase: string }).phase);
    expect(phases.slice(-3)).toEqual(["redelivery", "attempt", "delivered"]);
    expect(lines.join("\n")).not.toContain(TOKEN);
    expect((await verifyAudit(fx.auditPath)).ok).toBe(true);

    // Delivered now: a second redeliver refuses and sends nothing.
    const again = await main(
      ["audit", "redeliver", "rd1", "--config-dir", fx.dir],
      captureIO(fx.dir, { TEST_HOOKS_TOKEN: TOKEN, HOME: fx.dir }),
    );
    expect(again).toBe(1);
    expect(fx.receiver.requests).toHaveLength(2);
  });

  it("refuses --file (it needs the configuration) as a usage error", async () => {
    fixture = await relayFixture();
    const io = captureIO(fixture.dir, { HOME: fixture.dir });
    expect(await main(["audit", "redeliver", "rd1", "--file", fixture.auditPath], io)).toBe(2);
    expect(fixture.receiver.requests).toHaveLength(0);
  });

  it("exits 1 with the config error code when no configuration is found", async () => {
    fixture = await relayFixture();
    const io = captureIO(fixture.dir, { HOME: fixture.dir, XDG_CONFIG_HOME: join(fixture.dir, "none") });
    expect(await main(["audit", "redeliver", "rd1"], io)).toBe(1);
    expect(io.err()).toContain("CONFIG_NOT_FOUND");
  });
});
