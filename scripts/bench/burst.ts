import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Agent, request } from "undici";
import { configSchema, createRelay, openAuditLog } from "../../relay/index.ts";
import { benchRun } from "./bench-run.ts";
import { childInput, runInChild } from "./child.ts";
import { BENCH_TOKEN } from "./plugin-harness.ts";
import type { Bench, BenchContext } from "./registry.ts";
import { type Row, type Section, summarize } from "./stats.ts";
import { startTimingReceiver } from "./timing-receiver.ts";

/**
 * (4) Burst: 1,000 runs end together. In a fresh process each time (so peak RSS is the burst's
 * own): 1,000 `relay.submit` calls in one tick, timed until `relay.drain()` (every callback
 * delivered and audited). Baseline, also in a fresh process: 1,000 bare undici POSTs of a body of
 * the same size through one keep-alive Agent, at most as many in flight as the relay's
 * `delivery.concurrency` (8). The receiver (in the parent) answers 200 at once.
 */

export interface BurstInput {
  url: string;
  dir: string;
  runs: number;
  /**
   * `relay.prepare()` first, as the plugin does when a tagged run starts (the folders, the spare
   * batch file, the flusher's thread, which then writes the burst's batches), and done before the
   * burst: runs begin long before they end.
   */
  prepare: boolean;
}

export interface BurstResult {
  wallMs: number;
  rssBeforeMb: number;
  peakRssMb: number;
  heapPeakMb: number;
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
}

const mb = (bytes: number) => bytes / 2 ** 20;

/** Samples heap and RSS every 10 ms while the burst runs (maxRSS covers the process's whole life). */
function peakTracker() {
  let heap = 0;
  const timer = setInterval(() => {
    heap = Math.max(heap, process.memoryUsage().heapUsed);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(heap, process.memoryUsage().heapUsed);
    },
  };
}

/**
 * Time `work` from a quiet start (after GC) and report wall time, RSS and heap peaks, and how
 * long the event loop was held up while it ran.
 */
async function measureBurst(work: () => Promise<void>): Promise<BurstResult> {
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = process.memoryUsage().rss;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const peaks = peakTracker();
  const t0 = performance.now();
  await work();
  const wallMs = performance.now() - t0;
  loop.disable();
  const heapPeak = peaks.stop();
  return {
    wallMs,
    rssBeforeMb: mb(rssBefore),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    heapPeakMb: mb(heapPeak),
    loopDelayMaxMs: loop.max / 1e6,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
  };
}

/** Child: the relay's burst. */
export async function burstRelayChild(): Promise<BurstResult> {
  const input = childInput<BurstInput>();
  const config = configSchema.parse({
    target: { url: `${input.url}/hooks`, token: BENCH_TOKEN },
    callbackSessionPrefixes: ["agent:main:"],
  });
  const audit = openAuditLog({ path: join(input.dir, "audit.jsonl"), secrets: [BENCH_TOKEN] });
  const relay = createRelay({
    config,
    instance: { projectId: "global", worktree: "/tmp/e2e/project", directory: "/tmp/e2e/project" },
    audit,
    stateDir: join(input.dir, "state"),
  });
  const runs = Array.from({ length: input.runs }, (_, i) => benchRun(`burst-${i}`));
  if (input.prepare) {
    // prepare() returns at once and works in the background; drain() waits for that work too.
    relay.prepare();
    await relay.drain();
  }
  const result = await measureBurst(async () => {
    for (const run of runs) relay.submit(run);
    await relay.drain();
  });
  await relay.close();
  await audit.flush();
  return result;
}

/** Child: the bare-POST floor. */
export async function burstBareChild(): Promise<BurstResult> {
  const input = childInput<BurstInput>();
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const body = JSON.stringify({
    message: "Done. ".repeat(850),
    name: "OpenCode",
    sessionKey: "agent:main:main",
  });
  const bodies = Array.from({ length: input.runs }, (_, i) => body.replace("OpenCode", `OpenCode ${i}`));
  const result = await measureBurst(async () => {
    let next = 0;
    const worker = async () => {
      while (next < bodies.length) {
        const payload = bodies[next++] as string;
        const response = await request(`${input.url}/hooks/agent`, {
          dispatcher: agent,
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${BENCH_TOKEN}` },
          body: payload,
        });
        await response.body.dump();
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  });
  await agent.close();
  return result;
}

async function run({ quick, log }: BenchContext): Promise<Section> {
  const rounds = quick ? 2 : 5;
  const runs = 1_000;
  const receiver = await startTimingReceiver();
  receiver.keepBodies(false);
  const relay: BurstResult[] = [];
  const bare: BurstResult[] = [];
  const dirs: string[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const dir = await mkdtemp(join(tmpdir(), "ocr-bench-burst-"));
      dirs.push(dir);
      let before = receiver.count();
      relay.push(
        await runInChild<BurstResult>("burst-relay", { url: receiver.url, dir, runs, prepare: true }),
      );
      const gotRelay = receiver.count() - before;
      before = receiver.count();
      bare.push(
        await runInChild<BurstResult>("burst-bare", { url: receiver.url, dir, runs, prepare: false }),
      );
      const gotBare = receiver.count() - before;
      log(
        `  round ${r + 1}: relay ${relay.at(-1)?.wallMs.toFixed(0)} ms (${gotRelay} received), bare ${bare.at(-1)?.wallMs.toFixed(0)} ms (${gotBare} received)`,
      );
      if (gotRelay !== runs) log(`  WARNING: the receiver got ${gotRelay} of ${runs} relay callbacks`);
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await receiver.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
  const pick = (list: BurstResult[], key: keyof BurstResult) => summarize(list.map((r) => r[key]));
  const rate = (list: BurstResult[]) => summarize(list.map((r) => runs / (r.wallMs / 1000)));
  const rows: Row[] = [
    {
      name: "wall time, 1,000 runs submitted in one tick → all delivered and audited",
      unit: "ms",
      value: pick(relay, "wallMs"),
      baseline: pick(bare, "wallMs"),
      baselineName: "1,000 bare POSTs, 8 in flight",
    },
    {
      name: "callbacks per second",
      unit: "1/s",
      value: rate(relay),
      baseline: rate(bare),
      // Issue 12: the rate and its ratio to the bare POSTs of the same run (the machine's load moves both).
      target: "≥ 1,000/s and ≥ 0.4× bare",
      met: rate(relay).median >= 1_000 && rate(relay).median >= 0.4 * rate(bare).median,
    },
    {
      name: "peak RSS of the process (maxRSS)",
      unit: "MB",
      value: pick(relay, "peakRssMb"),
      baseline: pick(bare, "peakRssMb"),
      target: "< 150 MB",
      met: pick(relay, "peakRssMb").median < 150,
    },
    {
      name: "RSS before the burst",
      unit: "MB",
      value: pick(relay, "rssBeforeMb"),
      baseline: pick(bare, "rssBeforeMb"),
    },
    {
      name: "peak heap used (sampled every 10 ms)",
      unit: "MB",
      value: pick(relay, "heapPeakMb"),
      baseline: pick(bare, "heapPeakMb"),
    },
    {
      name: "event-loop delay during the burst, max (what OpenCode's loop would feel)",
      unit: "ms",
      value: pick(relay, "loopDelayMaxMs"),
      baseline: pick(bare, "loopDelayMaxMs"),
    },
    {
      name: "event-loop delay during the burst, p99",
      unit: "ms",
      value: pick(relay, "loopDelayP99Ms"),
      baseline: pick(bare, "loopDelayP99Ms"),
    },
  ];
  return {
    id: "burst",
    title: "4. Burst (1,000 runs ending together)",
    method: `Each round in a fresh Node process (both sides load the same dist/bench.js, so the RSS floor is the same): ${runs.toLocaleString()} terminal runs handed to \`relay.submit\` in one tick with the default configuration (concurrency 8, outbox and audit on disk) after \`relay.prepare()\` as the plugin calls it when a tagged run starts, its work done (its flusher thread then writes the burst's batches), timed until \`relay.drain()\`; baseline ${runs.toLocaleString()} bare undici POSTs of a same-size body, 8 in flight. The receiver answers 200 at once. ${rounds} rounds.`,
    rows,
    notes: [],
  };
}

export const burst: Bench = { name: "burst", title: "1,000 runs ending together", run };
