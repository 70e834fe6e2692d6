import { afterEach, describe, expect, it } from "vitest";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { seededRandom } from "../../../scripts/dev/seeded-random.ts";
import { manualTime } from "../../helpers/manual-time.ts";
import type { Reply } from "../../helpers/recording-receiver.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  await fixture?.cleanup();
  relay = undefined;
  fixture = undefined;
});

const RUNS = 1_000;

describe("createRelay: burst", () => {
  it(`delivers ${RUNS} runs against a receiver failing 20% at random: each key 2xx exactly once`, async () => {
    const random = seededRandom(0xc0ffee);
    const failures: Reply[] = [
      { status: 503, body: "hook agent run did not start before admission timeout" },
      { status: 500, body: "mapping threw" },
      { status: 429, headers: { "retry-after": "0" } },
      { status: 200, destroy: true }, // the connection drops: outcome unknown, retried with the same key
    ];
    const okByKey = new Map<string, number>();
    fixture = await relayFixture({
      delivery: { initialDelayMs: 5, maxDelayMs: 40, maxAttempts: 40, concurrency: 8, timeoutMs: 5_000 },
    });
    const fx = fixture;
    fx.receiver.respondWith((request) => {
      if (random() < 0.2) return failures[Math.floor(random() * failures.length)]!;
      const key = String(request.headers["idempotency-key"]);
      okByKey.set(key, (okByKey.get(key) ?? 0) + 1);
      return { status: 200, body: '{"ok":true}' };
    });
    // Backoff on a hand-driven clock: each round fires every retry due, no real waiting.
    const time = manualTime();
    relay = createRelay({
      config: fx.config,
      instance: INSTANCE,
      audit: fx.audit,
      stateDir: fx.stateDir,
      now: time.now,
      schedule: time.schedule.bind(time),
      random: seededRandom(0xbacc0ff),
    });

    const baseRss = process.memoryUsage().rss;
    let peakRss = baseRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    const started = performance.now();
    const runs = Array.from({ length: RUNS }, (_, i) => makeRun(`b${i}`));
    const submitStart = performance.now();
    for (const run of runs) relay.submit(run);
    const submitMs = performance.now() - submitStart;
    // Some runs are submitted twice, as repeated idles would.
    for (let i = 0; i < RUNS; i += 10) relay.submit(runs[i]!);

    // Until nothing is in flight and no retry is scheduled; each round is at least one attempt per
    // retry, so maxAttempts bounds the rounds.
    await relay.drain();
    for (let round = 0; time.pending() > 0; round++) {
      if (round > fx.config.delivery.maxAttempts)
        throw new Error(`${time.pending()} retries still scheduled`);
      time.advance(fx.config.delivery.maxDelayMs);
      await relay.drain();
    }
    const elapsedMs = performance.now() - started;
    clearInterval(sampler);

    expect(okByKey.size).toBe(RUNS);
    expect([...okByKey.values()].every((n) => n === 1)).toBe(true);

    const records = await fx.records(); // every line parses as JSON
    const attempts = phase(records, "attempt");
    expect(phase(records, "accepted")).toHaveLength(RUNS);
    expect(phase(records, "delivered")).toHaveLength(RUNS);
    expect(phase(records, "deduped")).toHaveLength(RUNS / 10);
    expect(phase(records, "failed")).toHaveLength(0);
    expect(attempts).toHaveLength(fx.receiver.requests.length);
    expect(phase(records, "retry_scheduled")).toHaveLength(attempts.length - RUNS);
    expect(new Set(phase(records, "delivered").map((r) => r.runId)).size).toBe(RUNS);
    const verified = await verifyAudit(fx.auditPath);
    expect(verified).toMatchObject({ ok: true, records: records.length });

    const maxRssMiB = process.resourceUsage().maxRSS / 1024;
    console.log(
      `burst: ${RUNS} runs, ${fx.receiver.requests.length} requests, ${attempts.length - RUNS} retries, ` +
        `submit ${((submitMs * 1000) / RUNS).toFixed(1)} µs/run, all delivered in ${Math.round(elapsedMs)} ms, ` +
        `RSS ${(baseRss / 2 ** 20).toFixed(0)} → peak ${(peakRss / 2 ** 20).toFixed(0)} MiB ` +
        `(worker maxRSS ${maxRssMiB.toFixed(0)} MiB, vitest included)`,
    );
  }, 120_000);
});
