import { appendFile, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyAudit } from "../../relay/audit/verify-audit.ts";
import type { Relay } from "../../relay/core/create-relay.ts";
import { main } from "../../scripts/cli/cli.ts";
import { captureIO } from "../helpers/capture-io.ts";
import type { Responder } from "../helpers/recording-receiver.ts";
import { makeRun, phase, type RelayFixture, relayFixture, relayOn, TOKEN } from "../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
let live: Relay | undefined;
afterEach(async () => {
  await live?.close();
  live = undefined;
  await fixture?.cleanup();
  fixture = undefined;
});

/**
 * Runs through a relay whose receiver answers `responder`; the relay is closed unless `keep`
 * (then it stays the live holder of what is pending). Retries are a minute away and never fire.
 */
async function runThrough(
  fx: RelayFixture,
  runs: ReturnType<typeof makeRun>[],
  responder: Responder,
  keep = false,
): Promise<Relay> {
  fx.receiver.respondWith(responder);
  const relay = relayOn(fx, {
    schedule: () => () => undefined,
    random: () => 0.5,
    notify: () => undefined,
    nudgePollMs: 50,
  });
  for (const run of runs) relay.submit(run);
  await relay.drain();
  if (!keep) await relay.close();
  await fx.audit.flush();
  return relay;
}

/** `audit redeliver …args` against the fixture's configuration; exit code and what it printed. */
async function cli(fx: RelayFixture, ...args: string[]) {
  await writeConfig(fx);
  const io = captureIO(fx.dir, { TEST_HOOKS_TOKEN: TOKEN, HOME: fx.dir });
  const code = await main(["audit", "redeliver", ...args, "--config-dir", fx.dir], io);
  return { code, out: io.out(), err: io.err() };
}

const MINUTE_BACKOFF = { initialDelayMs: 60_000, maxDelayMs: 60_000, timeoutMs: 2_000 };

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
    const relay = relayOn(fx);
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

  it("refuses to trust a log with a delivered line appended by hand: exit 1, REDELIVERY_AUDIT_UNVERIFIED, the failed callback kept; --force sends it", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await runThrough(fx, [makeRun("rd2")], () => ({ status: 401 }));
    const failedDir = join(fx.stateDir, "outbox", "failed");
    const [name] = await readdir(failedDir);
    const kept = await readFile(join(failedDir, name!), "utf8");
    const accepted = phase(await fx.records(), "accepted")[0]!;
    await appendFile(fx.auditPath, `${JSON.stringify({ ...accepted, phase: "delivered", seq: 999 })}\n`);
    fx.receiver.respondWith(() => ({ status: 200 }));

    const refused = await cli(fx, "rd2");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("REDELIVERY_AUDIT_UNVERIFIED");
    expect(fx.receiver.requests).toHaveLength(1);
    expect(await readFile(join(failedDir, name!), "utf8")).toBe(kept);

    const forced = await cli(fx, "rd2", "--force");
    expect(forced.code).toBe(0);
    expect(forced.out).toContain("forced");
    expect(fx.receiver.requests).toHaveLength(2);
  });

  it("names the sessions of a runId that failed in two and takes --session to pick one", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await runThrough(fx, [makeRun("rd3"), makeRun("rd3", { run: { sessionId: "ses_two" } })], () => ({
      status: 404,
    }));
    fx.receiver.respondWith(() => ({ status: 200 }));

    const ambiguous = await cli(fx, "rd3");
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.err).toContain("REDELIVERY_AMBIGUOUS");
    expect(ambiguous.err).toContain("audit redeliver rd3 --session ses_rd3");
    expect(ambiguous.err).toContain("audit redeliver rd3 --session ses_two");
    expect(fx.receiver.requests).toHaveLength(2);

    const picked = await cli(fx, "rd3", "--session", "ses_two");
    expect(picked.code).toBe(0);
    expect(fx.receiver.requests).toHaveLength(3);
    expect(fx.receiver.requests.at(-1)?.body).toContain("ses_two");
  });

  it("--now has the live relay that holds a pending callback send it at once, or sends it itself once that relay is gone", async () => {
    fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
    const fx = fixture;
    live = await runThrough(fx, [makeRun("rd4"), makeRun("rd6")], () => ({ status: 503 }), true);
    fx.receiver.respondWith(() => ({ status: 200 }));

    const pending = await cli(fx, "rd4");
    expect(pending.code).toBe(1);
    expect(pending.err).toContain("REDELIVERY_PENDING");
    expect(pending.err).toContain("next attempt due at");

    const nudged = await cli(fx, "rd4", "--now");
    expect(nudged.code).toBe(0);
    expect(nudged.out).toContain(`nudged`);
    expect(nudged.out).toContain(`pid ${process.pid}`);
    await live.drain();
    const sent = (runId: string) => fx.receiver.requests.filter((r) => r.body.includes(`ses_${runId}`));
    expect(sent("rd4")).toHaveLength(2);
    expect(sent("rd4")[1]?.headers["idempotency-key"]).toBe(sent("rd4")[0]?.headers["idempotency-key"]);

    await live.close();
    live = undefined;
    const now = await cli(fx, "rd6", "--now");
    expect(now.code).toBe(0);
    expect(now.out).not.toContain("nudged");
    expect(sent("rd6")).toHaveLength(2);
    expect(sent("rd4")).toHaveLength(2);
  });

  it("says a callback whose first attempt is in flight is pending there, and who holds it, not that it is unknown", async () => {
    fixture = await relayFixture({ delivery: MINUTE_BACKOFF });
    const fx = fixture;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    fx.receiver.respondWith(() => ({ status: 200, hold: held }));
    live = relayOn(fx, { leases: { schedule: () => () => undefined } });
    live.submit(makeRun("rd7"));
    await fx.receiver.waitFor(1);

    const plain = await cli(fx, "rd7");
    expect(plain.code).toBe(1);
    expect(plain.err).toContain("REDELIVERY_PENDING");
    expect(plain.err).toContain(`its first attempt is in flight (relay pid ${process.pid})`);
    const now = await cli(fx, "rd7", "--now");
    expect(now.code).toBe(1);
    expect(now.err).toContain("REDELIVERY_LEASED");
    expect(now.err).toContain(`held by pid ${process.pid}`);

    release();
    await live.drain();
    expect(fx.receiver.requests).toHaveLength(1);
  });

  it("--force resends a delivered callback with the same key, recorded as forced", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await runThrough(fx, [makeRun("rd5")], () => ({ status: 200 }));
    const refused = await cli(fx, "rd5");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("REDELIVERY_ALREADY_DELIVERED");
    const forced = await cli(fx, "rd5", "--force");
    expect(forced.code).toBe(0);
    expect(fx.receiver.requests).toHaveLength(2);
    expect(phase(await fx.records(), "redelivery").at(-1)).toMatchObject({ forced: true, from: "delivered" });
    expect((await verifyAudit(fx.auditPath)).ok).toBe(true);
  });

  it("takes --now and --force only with redeliver (usage error 2 elsewhere)", async () => {
    fixture = await relayFixture();
    const io = captureIO(fixture.dir, { HOME: fixture.dir });
    expect(await main(["audit", "--now", "--file", fixture.auditPath], io)).toBe(2);
    expect(await main(["audit", "stats", "--force", "--file", fixture.auditPath], io)).toBe(2);
  });
});
