import { unlinkSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { configSchema, createRelay, openAuditLog } from "../../relay/index.ts";
import { writeDurableLinesSync } from "../../relay/state/durable-file.ts";
import { benchRun } from "./bench-run.ts";
import { isIdle, loadBenchStream } from "./bench-stream.ts";
import { BENCH_TOKEN, startPluginHarness } from "./plugin-harness.ts";
import type { Bench, BenchContext } from "./registry.ts";
import { type Row, type Section, summarize } from "./stats.ts";
import { startTimingReceiver, type TimingReceiver } from "./timing-receiver.ts";

/**
 * (3) Delivery latency: a terminal run handed to the relay → the receiver has the whole request,
 * against the physical floor: a bare undici POST of the same body and headers on a warm
 * keep-alive connection to the same receiver. One sample of each, alternating, one at a time.
 */

interface Variant {
  name: string;
  /** Where the outbox and the audit log live. */
  dir: string;
  stateDir: string;
}

/** One bare POST, timed from the call to the receiver's end of body. */
async function barePost(
  agent: Agent,
  receiver: TimingReceiver,
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<number> {
  const t0 = performance.now();
  const arrived = receiver.next();
  const response = await request(url, { dispatcher: agent, method: "POST", headers, body });
  await response.body.dump();
  return (await arrived).at - t0;
}

/**
 * The floor of a durable callback: the body staged the way the relay stages a callback (a new file,
 * written and fsynced with synchronous calls: writeDurableLinesSync), then the bare POST; timed from
 * the open.
 */
async function durablePost(
  agent: Agent,
  receiver: TimingReceiver,
  url: string,
  headers: Record<string, string>,
  body: string,
  file: string,
): Promise<number> {
  const t0 = performance.now();
  writeDurableLinesSync(file, [body]);
  const staged = performance.now() - t0;
  const ms = staged + (await barePost(agent, receiver, url, headers, body));
  unlinkSync(file);
  return ms;
}

async function run({ quick, log }: BenchContext): Promise<Section> {
  const samples = quick ? 30 : 200;
  const receiver = await startTimingReceiver();
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const made: string[] = [];
  const mk = async (parent: string, prefix: string) => {
    const dir = await mkdtemp(join(parent, prefix));
    made.push(dir);
    return dir;
  };
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    const disk = await mk(tmpdir(), "ocr-bench-lat-disk-");
    const shm = await mk("/dev/shm", "ocr-bench-lat-shm-").catch(() => undefined);
    const off = await mk(tmpdir(), "ocr-bench-lat-off-");
    await writeFile(join(off, "not-a-dir"), "");
    const variants: Variant[] = [
      { name: "durability on: outbox + audit on disk (fsync)", dir: disk, stateDir: join(disk, "state") },
      ...(shm
        ? [
            {
              name: "durability on, on tmpfs (/dev/shm: fsync is free)",
              dir: shm,
              stateDir: join(shm, "state"),
            },
          ]
        : []),
      {
        name: "durability off: stateDir unwritable, memory-only outbox",
        dir: off,
        stateDir: join(off, "not-a-dir", "state"),
      },
    ];
    const config = configSchema.parse({
      target: { url: `${receiver.url}/hooks`, token: BENCH_TOKEN },
      callbackSessionPrefixes: ["agent:main:"],
    });
    const instance = { projectId: "global", worktree: "/tmp/e2e/project", directory: "/tmp/e2e/project" };
    let body = "";
    let headers: Record<string, string> = {};
    let bare: number[] = [];
    for (const [index, variant] of variants.entries()) {
      const audit = openAuditLog({ path: join(variant.dir, "audit.jsonl"), secrets: [BENCH_TOKEN] });
      const relay = createRelay({ config, instance, audit, stateDir: variant.stateDir });
      const measured: number[] = [];
      const baseline: number[] = [];
      const durableFloor: number[] = [];
      const onDisk = index === 0;
      for (let i = -5; i < samples; i++) {
        const arrived = receiver.next();
        const t0 = performance.now();
        relay.submit(benchRun(`lat${index}-${i}`));
        const got = await arrived;
        await relay.drain();
        if (i < 0) {
          // Warm-up; also the body and headers the bare POST replays.
          body = got.body;
          headers = {};
          for (const [key, value] of Object.entries(got.headers)) {
            if (typeof value === "string" && !["host", "connection", "content-length"].includes(key))
              headers[key] = value;
          }
          await barePost(agent, receiver, `${receiver.url}${got.path}`, headers, body);
          continue;
        }
        measured.push(got.at - t0);
        baseline.push(await barePost(agent, receiver, `${receiver.url}${got.path}`, headers, body));
        if (onDisk) {
          const file = join(variant.dir, `floor-${i}`);
          durableFloor.push(
            await durablePost(agent, receiver, `${receiver.url}${got.path}`, headers, body, file),
          );
        }
      }
      await relay.close();
      await audit.flush?.();
      bare = bare.concat(baseline);
      const value = summarize(measured);
      const base = summarize(baseline);
      rows.push({
        name: `relay.submit → received: ${variant.name}`,
        unit: "ms",
        value,
        baseline: base,
        baselineName: "bare undici POST, warm keep-alive",
        ...(onDisk ? { target: "p50 ≤ bare + 1 ms", met: value.median - base.median <= 1 } : {}),
        note: `p50 ${(value.median - base.median).toFixed(2)} ms above bare`,
      });
      log(`  ${variant.name}: p50 ${value.median.toFixed(2)} ms vs bare ${base.median.toFixed(2)} ms`);
      if (onDisk) {
        const floor = summarize(durableFloor);
        rows.push({
          name: "relay.submit → received, vs the floor of a durable callback on the same disk",
          unit: "ms",
          value,
          baseline: floor,
          baselineName:
            "the body staged as the relay stages a callback (writeDurableLinesSync: a new file, written and fsynced), then the bare POST",
          note: `p50 ${(value.median - floor.median).toFixed(2)} ms above it; the floor is ${(floor.median - base.median).toFixed(2)} ms above the bare POST`,
        });
      }
    }
    notes.push(
      `Body ${Buffer.byteLength(body).toLocaleString()} bytes (an OpenClaw /agent callback quoting a 4,000-character summary). ${samples} samples per variant; each relay sample waits for \`relay.drain()\` (the \`delivered\` record and outbox removal) before the next. On disk, each sample also times the floor of a durable callback: the bare POST after the body is staged in the same folder the way the relay stages a callback (a new file written and fsynced with synchronous calls), what the relay's staging costs at least; this disk's fsync latency moves from run to run, and the target row moves with it.`,
      "The relay has no durability switch; 'off' is the relay's own degraded mode: a stateDir that cannot be created makes it audit `state_error` once per callback and deliver from memory (no dedupe marker, no outbox file).",
    );

    // Through the plugin: the terminal idle event → settle (messages read through the SDK client
    // from a local stand-in) → relay (outbox on disk) → received.
    const stream = loadBenchStream();
    const harness = await startPluginHarness({
      messages: stream.messages,
      targetUrl: `${receiver.url}/hooks`,
    });
    try {
      const viaPlugin: number[] = [];
      const pluginBase: number[] = [];
      for (let i = -5; i < samples; i++) {
        const events = stream.round(400_000 + i).map((event) => ({ event }));
        const end = events.findIndex((w) => isIdle(w.event));
        for (const w of events.slice(0, end)) if (w.event.type !== "message.part.delta") harness.hook(w);
        const arrived = receiver.next();
        const t0 = performance.now();
        harness.hook(events[end] as (typeof events)[number]);
        const got = await arrived;
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (i < 0) continue;
        viaPlugin.push(got.at - t0);
        pluginBase.push(await barePost(agent, receiver, `${receiver.url}${got.path}`, headers, body));
      }
      const value = summarize(viaPlugin);
      const base = summarize(pluginBase);
      rows.push({
        name: "terminal idle event → received, through the plugin (settle + relay, outbox on disk)",
        unit: "ms",
        value,
        baseline: base,
        baselineName: "bare undici POST, warm keep-alive",
        note: `p50 ${(value.median - base.median).toFixed(2)} ms above bare`,
      });
      notes.push(
        "Through the plugin the settle takes the turn from the replayed events (their stamps moved to just before now, as a live OpenCode's are; bench-stream.ts); a local stand-in HTTP server answers `session.messages` for any fallback read.",
      );
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await harness.close();
    }
  } finally {
    await agent.close();
    await receiver.close();
    for (const dir of made) await rm(dir, { recursive: true, force: true });
  }
  return {
    id: "latency",
    title: "3. Delivery latency (terminal run → request received)",
    method:
      "In one process: a receiver on 127.0.0.1 stamps `performance.now()` when a request's body has arrived; each sample hands one terminal run to the relay (`relay.submit`) and, alternately, sends the same body and headers with a bare undici `request` on a warm keep-alive Agent.",
    rows,
    notes,
  };
}

export const deliveryLatency: Bench = { name: "latency", title: "delivery latency vs a bare POST", run };
