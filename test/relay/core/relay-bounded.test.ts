import { readdirSync } from "node:fs";
import { readdir, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { readAudit } from "../../../relay/audit/read-audit.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import { isUnfilledSpare } from "../../helpers/pending-outbox-files.ts";
import { INSTANCE, makeRun, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

/**
 * Bounded (DESIGN.md "Delivery", README "Delivery semantics"): a relay that has delivered thousands
 * of callbacks holds no more file descriptors, heap or outbox files than one that delivered a
 * thousand; what it keeps on disk on purpose (one dedupe marker per run) is pruned by age.
 * Behaviour, not timings: every figure is compared with a baseline taken in the same process.
 */

const BATCHES = 5;
const BATCH = 1_000;
/** Dedupe markers older than this are pruned by recover() (DEDUPE_RETENTION_MS, 30 days). */
const DAY_MS = 24 * 60 * 60 * 1000;

/** `gc()` without `--expose-gc` on the command line: V8 hands it to a fresh context once the flag is set. */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
const gc = collector();

/** Heap in use after two full collections (the second sweeps what finalizers of the first freed). */
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Open file descriptors of this process (the receiver's sockets included: it runs in-process). */
const openFds = () => readdirSync("/proc/self/fd").length;

/** Every file below `dir`, any depth (an outbox entry, lease, staged or temp file). */
async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesBelow(path)));
    else out.push(path);
  }
  return out;
}

const until = (what: string, probe: () => boolean, timeoutMs?: number): Promise<true> =>
  waitFor(what, () => (probe() ? true : undefined), timeoutMs);

/**
 * A run with a summary of realistic size (a flat string of its own, 3,000 characters), so a relay
 * that kept delivered callbacks in memory would show several KB per run, far above a dedupe key.
 */
const runOf = (runId: string) =>
  makeRun(runId, { run: { summary: `Summary of ${runId}: `.padEnd(SUMMARY_CHARS, "all tests pass; ") } });
const SUMMARY_CHARS = 3_000;

let fixture: RelayFixture | undefined;
const relays: Relay[] = [];
afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  await fixture?.cleanup();
  fixture = undefined;
});

describe("createRelay: bounded", () => {
  it(`after ${BATCHES * BATCH} deliveries: fds back to baseline, flat heap, empty outbox, markers pruned by age`, async () => {
    fixture = await relayFixture({ delivery: { concurrency: 8, timeoutMs: 5_000 } });
    const fx = fixture;
    const okByKey = new Map<string, number>();
    fx.receiver.respondWith((request) => {
      const key = String(request.headers["idempotency-key"]);
      okByKey.set(key, (okByKey.get(key) ?? 0) + 1);
      return { status: 200, body: '{"ok":true}' };
    });
    // The receiver's request log would grow with every run: emptied after each batch.
    const requests = fx.receiver.requests;

    const fdBaseline = openFds();
    const relay = createRelay({
      config: fx.config,
      instance: INSTANCE,
      audit: fx.audit,
      stateDir: fx.stateDir,
    });
    relays.push(relay);

    const fds: number[] = [];
    const heaps: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      for (let i = 0; i < BATCH; i++) relay.submit(runOf(`bound-${b}-${i}`));
      await relay.drain();
      // Each key 2xx exactly once, checked per batch so the test itself holds no per-run state.
      expect(okByKey.size).toBe(BATCH);
      expect([...okByKey.values()].every((n) => n === 1)).toBe(true);
      okByKey.clear();
      requests.length = 0;
      fds.push(openFds());
      heaps.push(heapAfterGc());
    }

    // Nothing pending, staged, leased or half-written is left behind: only `failed/` (empty) and
    // dirs, and the batch file made ahead for the next callback (until close). Every callback was
    // delivered by its first attempt, straight from its staged batch: no lease was ever taken, so
    // not even a lease-holder file was written.
    expect((await filesBelow(join(fx.stateDir, "outbox"))).filter((path) => !isUnfilledSpare(path))).toEqual(
      [],
    );

    // Descriptors: a keep-alive pool (a few sockets past `concurrency` while answered ones are
    // handed back; both ends count here, the receiver runs in-process) and the audit log. However
    // many runs went through, never more than that; closing the relay gives every one of them back.
    const fdCeiling = fdBaseline + 4 * fx.config.delivery.concurrency + 4;
    expect(Math.max(...fds)).toBeLessThanOrEqual(fdCeiling);
    await relay.close();
    relays.length = 0;
    // The spare went with the relay.
    expect(await filesBelow(join(fx.stateDir, "outbox"))).toEqual([]);
    // Before the receiver's own 5 s keep-alive timeout could close them: it is the relay that did.
    await until("descriptors back at the baseline", () => openFds() <= fdBaseline + 1, 4_000);

    // Heap: what a delivered run may leave in memory is its dedupe key, in a set capped at
    // MEMORY_CLAIMS (10,000) keys: ~0.1 KB a run plus GC noise, never its callback (> 3 KB here).
    const growth = (heaps.at(-1) ?? 0) - (heaps[0] ?? 0);
    const perRun = growth / ((BATCHES - 1) * BATCH);
    expect(perRun).toBeLessThan(1_024);

    // Markers: one per run, on purpose (dedupe across restarts); recover() prunes those past 30 days.
    const dedupeDir = join(fx.stateDir, "dedupe");
    const markers = await readdir(dedupeDir);
    expect(markers).toHaveLength(BATCHES * BATCH);
    let markerBytes = 0;
    for (const name of markers.slice(0, 100)) markerBytes += (await stat(join(dedupeDir, name))).size;
    // Age the markers of the first four batches past the retention; the last batch stays fresh.
    const markerOf = (runId: string) => `${markerName(`ses_${runId}|${runId}`)}.json`;
    const fresh = Array.from({ length: BATCH }, (_, i) => markerOf(`bound-${BATCHES - 1}-${i}`));
    const old = new Date(Date.now() - 31 * DAY_MS);
    for (const name of markers.filter((m) => !fresh.includes(m)))
      await utimes(join(dedupeDir, name), old, old);
    const next = createRelay({
      config: fx.config,
      instance: INSTANCE,
      audit: fx.audit,
      stateDir: fx.stateDir,
    });
    relays.push(next);
    await next.recover();
    expect((await readdir(dedupeDir)).sort()).toEqual(fresh.sort());
    // A kept marker still dedupes its run after the restart.
    next.submit(runOf(`bound-${BATCHES - 1}-0`));
    await next.drain();
    await fx.audit.flush();
    const phases = new Map<string, number>();
    const skipped: unknown[] = [];
    // Across rotated files too: every line a whole record.
    for await (const record of readAudit(fx.auditPath, { onSkipped: (where) => skipped.push(where) }))
      phases.set(record.phase, (phases.get(record.phase) ?? 0) + 1);
    expect(skipped).toEqual([]);
    expect(phases.get("delivered")).toBe(BATCHES * BATCH);
    expect(phases.get("failed")).toBeUndefined();
    expect(phases.get("deduped")).toBe(1);
    expect(await verifyAudit(fx.auditPath)).toMatchObject({ ok: true });

    console.log(
      `bounded: ${BATCHES * BATCH} runs; fds baseline ${fdBaseline}, after each ${BATCH}: ${fds.join(" ")}, ` +
        `after close ${openFds()}; heap after GC per batch (MiB): ${heaps.map((h) => (h / 2 ** 20).toFixed(1)).join(" ")} ` +
        `(${perRun.toFixed(0)} B/run); dedupe marker ~${Math.round(markerBytes / 100)} B each`,
    );
  }, 120_000);
});
