import { appendFile, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { configSchema } from "../../../relay/config/config-schema.ts";
import { redeliver } from "../../../relay/delivery/redeliver.ts";
import type { FailedOutboxEntry } from "../../../relay/state/outbox-entry.ts";
import type { Responder } from "../../helpers/recording-receiver.ts";
import {
  makeRun,
  phase,
  type RelayFixture,
  redeliverOptions,
  relayFixture,
  relayOn,
  TOKEN,
} from "../../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

/** Submit runs to a relay whose receiver answers `responder`, and let them settle. */
async function failRuns(fx: RelayFixture, runs: ReturnType<typeof makeRun>[], responder: Responder) {
  fx.receiver.respondWith(responder);
  const relay = relayOn(fx);
  for (const run of runs) relay.submit(run);
  await relay.drain();
  await relay.close();
}

describe("redeliver", () => {
  it("resends a failed callback once, with the same idempotency key, and audits it", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await failRuns(fx, [makeRun("x1")], () => ({ status: 401, body: "Unauthorized" }));
    fx.receiver.respondWith(() => ({ status: 200, body: '{"ok":true}' }));

    const result = await redeliver(redeliverOptions(fx, "x1"));

    expect(result).toEqual({ ok: true, status: 200 });
    expect(fx.receiver.requests).toHaveLength(2);
    const [first, second] = fx.receiver.requests;
    expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
    expect(second?.body).toBe(first?.body);
    expect(second?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const records = await fx.records();
    expect(records.slice(-3).map((r) => r.phase)).toEqual(["redelivery", "attempt", "delivered"]);
    expect(records.at(-3)).toMatchObject({ runId: "x1", previousCode: "DELIVERY_UNAUTHORIZED", attempts: 1 });
    expect(records.at(-2)).toMatchObject({ attempt: 2, status: 200, redelivery: true });
    expect(await readdir(join(fx.stateDir, "outbox", "failed"))).toEqual([]);

    // Delivered is final: asking again sends nothing.
    expect(await redeliver(redeliverOptions(fx, "x1"))).toEqual({
      ok: false,
      code: "REDELIVERY_ALREADY_DELIVERED",
    });
    expect(fx.receiver.requests).toHaveLength(2);
    expect(await readFile(fx.auditPath, "utf8")).not.toContain(TOKEN);
  });

  it("uses the current configuration (a fixed token) to rebuild the request", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await failRuns(fx, [makeRun("x2")], () => ({ status: 401 }));
    const fixed = configSchema.parse({
      ...fx.config,
      target: { ...fx.config.target, token: "tok-new-123456" },
    });
    fx.receiver.respondWith(() => ({ status: 200 }));
    const result = await redeliver({ ...redeliverOptions(fx, "x2"), config: fixed });
    expect(result.ok).toBe(true);
    expect(fx.receiver.requests[1]?.headers.authorization).toBe("Bearer tok-new-123456");
  });

  it("keeps the entry, with one more attempt, when the redelivery fails again", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await failRuns(fx, [makeRun("x3")], () => ({ status: 413 }));
    fx.receiver.respondWith(() => ({ status: 500, body: "mapping threw" }));
    expect(await redeliver(redeliverOptions(fx, "x3"))).toEqual({
      ok: false,
      code: "DELIVERY_HTTP_STATUS",
      status: 500,
    });
    const dir = join(fx.stateDir, "outbox", "failed");
    const [name] = await readdir(dir);
    const entry = JSON.parse(await readFile(join(dir, name!), "utf8")) as FailedOutboxEntry;
    expect(entry).toMatchObject({ attempts: 2, code: "DELIVERY_HTTP_STATUS" });
    expect(phase(await fx.records(), "failed").at(-1)).toMatchObject({
      code: "DELIVERY_HTTP_STATUS",
      redelivery: true,
    });
  });

  it("refuses an unknown runId, and a runId shared by two failed sessions naming them, sending nothing", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await failRuns(fx, [makeRun("x4"), makeRun("x4", { run: { sessionId: "ses_other" } })], () => ({
      status: 404,
    }));
    const sent = fx.receiver.requests.length;
    expect(await redeliver(redeliverOptions(fx, "nope"))).toEqual({
      ok: false,
      code: "REDELIVERY_NOT_FOUND",
    });
    expect(await redeliver(redeliverOptions(fx, "x4"))).toEqual({
      ok: false,
      code: "REDELIVERY_AMBIGUOUS",
      sessions: ["ses_other", "ses_x4"],
    });
    expect(fx.receiver.requests).toHaveLength(sent);
    const refusals = phase(await fx.records(), "redelivery");
    expect(refusals.map((r) => r.code)).toEqual(["REDELIVERY_NOT_FOUND", "REDELIVERY_AMBIGUOUS"]);
    expect(refusals[1]).toMatchObject({ sessions: ["ses_other", "ses_x4"] });
  });

  it("redelivers the one session picked with `session` when a runId failed in two, leaving the other", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await failRuns(fx, [makeRun("x5"), makeRun("x5", { run: { sessionId: "ses_other" } })], () => ({
      status: 404,
    }));
    fx.receiver.respondWith(() => ({ status: 200 }));
    const sent = fx.receiver.requests.length;
    const result = await redeliver({ ...redeliverOptions(fx, "x5"), session: "ses_other" });
    expect(result).toEqual({ ok: true, status: 200 });
    expect(fx.receiver.requests).toHaveLength(sent + 1);
    const resent = fx.receiver.requests.at(-1)?.body ?? "";
    expect(resent).toContain("ses_other");
    expect(resent).not.toContain("ses_x5");
    const left = await readdir(join(fx.stateDir, "outbox", "failed"));
    expect(left).toHaveLength(1);
    expect(await redeliver({ ...redeliverOptions(fx, "x5"), session: "ses_nope" })).toEqual({
      ok: false,
      code: "REDELIVERY_NOT_FOUND",
    });
    // The other session is now the only failed one, but the log shows ses_other delivered: still two.
    expect((await redeliver(redeliverOptions(fx, "x5"))).code).toBe("REDELIVERY_AMBIGUOUS");
  });
});

describe("redeliver trusts the audit log only when it verifies", () => {
  /** The failed entry of the only failed callback, as it is on disk. */
  async function failedEntryText(fx: RelayFixture): Promise<string> {
    const dir = join(fx.stateDir, "outbox", "failed");
    const names = await readdir(dir);
    expect(names).toHaveLength(1);
    return readFile(join(dir, names[0]!), "utf8");
  }

  it("refuses with REDELIVERY_AUDIT_UNVERIFIED and keeps the failed entry when a delivered line was appended by hand", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await failRuns(fx, [makeRun("f1")], () => ({ status: 401 }));
    await fx.audit.flush();
    const before = await failedEntryText(fx);
    const accepted = phase(await fx.records(), "accepted")[0]!;
    // A forged line: a plausible record, not sealed into the chain.
    const forged = { ...accepted, phase: "delivered", seq: accepted.seq + 100, status: 200 };
    await appendFile(fx.auditPath, `${JSON.stringify(forged)}\n`);
    fx.receiver.respondWith(() => ({ status: 200 }));
    const sent = fx.receiver.requests.length;

    const result = await redeliver(redeliverOptions(fx, "f1"));

    expect(result).toMatchObject({ ok: false, code: "REDELIVERY_AUDIT_UNVERIFIED" });
    expect(result.problem).toBeDefined();
    expect(fx.receiver.requests).toHaveLength(sent);
    expect(await failedEntryText(fx)).toBe(before);

    // --force: the operator accepts the risk; sent once with the same key, recorded as forced.
    const forced = await redeliver({ ...redeliverOptions(fx, "f1"), force: true });
    expect(forced).toEqual({ ok: true, status: 200 });
    expect(fx.receiver.requests).toHaveLength(sent + 1);
    expect(fx.receiver.requests.at(-1)?.headers["idempotency-key"]).toBe(accepted.idempotencyKey);
    expect(await readdir(join(fx.stateDir, "outbox", "failed"))).toEqual([]);
    const records = await fx.records();
    expect(phase(records, "redelivery").at(-1)).toMatchObject({ forced: true, from: "failed" });
  });

  it("never removes a failed entry on the log's word, even a log that verifies", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    await failRuns(fx, [makeRun("f2")], () => ({ status: 401 }));
    const before = await failedEntryText(fx);
    const accepted = phase(await fx.records(), "accepted")[0]!;
    // Sealed through the writer: anyone who can recompute the chain can do this.
    await fx.audit.append({
      phase: "delivered",
      sessionId: String(accepted.sessionId),
      runId: "f2",
      dedupeKey: String(accepted.dedupeKey),
      status: 200,
    });
    fx.receiver.respondWith(() => ({ status: 200 }));
    const sent = fx.receiver.requests.length;
    expect((await redeliver(redeliverOptions(fx, "f2"))).code).toBe("REDELIVERY_ALREADY_DELIVERED");
    expect(fx.receiver.requests).toHaveLength(sent);
    expect(await failedEntryText(fx)).toBe(before);
  });
});
