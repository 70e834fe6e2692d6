import { type BenchStream, internType, isIdle, loadBenchStream, type StreamEvent } from "./bench-stream.ts";
import { type EventHook, startPluginHarness } from "./plugin-harness.ts";
import type { Bench, BenchContext } from "./registry.ts";
import { type Row, type Section, summarize } from "./stats.ts";

/**
 * (1) Hook cost: the recorded real stream replayed through the plugin's `event` hook (the real
 * plugin, started as OpenCode starts it) and through a no-op async hook, in the same process,
 * alternating. OpenCode calls hooks in a synchronous loop without awaiting them, so what a hook
 * costs OpenCode is the synchronous part timed here; the settle and delivery a terminal event
 * starts run later, off that loop, and are waited for between samples (not timed).
 */

type Wrapper = { event: StreamEvent };

const noopAsync: EventHook = async () => {};
/** The floor of the allocation probe: a hook that returns nothing allocates nothing. */
const noopSync = (() => undefined) as unknown as EventHook;

/** Batch-time `iters` calls cycling over `wrappers`, in ns per call. */
function timeBatch(hook: EventHook, wrappers: Wrapper[], iters: number): number {
  const n = wrappers.length;
  const t0 = process.hrtime.bigint();
  for (let i = 0, j = 0; i < iters; i++) {
    hook(wrappers[j] as Wrapper);
    if (++j === n) j = 0;
  }
  return Number(process.hrtime.bigint() - t0) / iters;
}

/** Heap bytes allocated per call over `iters` calls (gc forced first; no gc expected inside). */
function bytesPerCall(hook: EventHook, wrappers: Wrapper[], iters: number): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return Number.NaN;
  const n = wrappers.length;
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0, j = 0; i < iters; i++) {
    hook(wrappers[j] as Wrapper);
    if (++j === n) j = 0;
  }
  const after = process.memoryUsage().heapUsed;
  return (after - before) / iters;
}

/** By-type key: `session.status` is split by its status, the rest by type. */
function typeKey(event: StreamEvent): string {
  if (event.type !== "session.status") return event.type;
  return `session.status ${(event.properties.status as { type?: string } | undefined)?.type ?? "?"}`;
}

const wrap = (events: StreamEvent[]): Wrapper[] => events.map((event) => ({ event }));

async function run({ quick, log }: BenchContext): Promise<Section> {
  const stream: BenchStream = loadBenchStream();
  const harness = await startPluginHarness({ messages: stream.messages });
  const plugin = harness.hook;
  const rows: Row[] = [];
  const notes: string[] = [];
  const tagged = stream.events.filter(
    (e) =>
      e.type === "session.created" &&
      String((e.properties.info as { title?: string })?.title).includes("runId="),
  ).length;
  let expected = 0;
  const settle = async () => {
    await harness.receiver.waitFor(expected, 30_000);
  };
  try {
    // Warm up both (JIT, the relay's keep-alive connection) on rounds nobody measures.
    for (let k = 0; k < 3; k++) {
      for (const w of wrap(stream.round(900_000 + k))) plugin(w);
      expected += tagged;
      await settle();
      for (const w of wrap(stream.round(900_000 + k))) noopAsync(w);
    }

    // Whole stream, as OpenCode delivers it. OpenCode builds each event just before calling the
    // hooks, so the replay parses a few events at a time (untimed) and times the hook calls on them
    // while they are hot in cache; the per-slice timer costs < 1 ns per event.
    const rounds = quick ? 10 : 40;
    const whole = { plugin: [] as number[], noop: [] as number[] };
    const nonSession = { plugin: [] as number[], noop: [] as number[] };
    const terminal = { plugin: [] as number[], noop: [] as number[] };
    const SLICE = 32;
    const replay = (hook: EventHook, lines: string[]): number => {
      let ns = 0n;
      for (let start = 0; start < lines.length; start += SLICE) {
        const slice = lines.slice(start, start + SLICE).map((line) => ({
          event: internType(JSON.parse(line) as StreamEvent),
        }));
        const t0 = process.hrtime.bigint();
        for (const w of slice) hook(w);
        ns += process.hrtime.bigint() - t0;
      }
      return Number(ns) / lines.length;
    };
    for (let k = 0; k < rounds; k++) {
      for (const [name, hook] of [
        ["plugin", plugin],
        ["noop", noopAsync],
      ] as const) {
        whole[name].push(replay(hook, stream.roundLines(k)));
        nonSession[name].push(
          replay(
            hook,
            stream.roundLines(300_000 + k).filter((line) => !line.includes('"type":"session.')),
          ),
        );
        // The same stream again (new ids), timing each idle alone: the first idle after busy of a
        // tagged session is the run's terminal point, where the plugin starts settling.
        for (const w of wrap(stream.round(500_000 + k))) {
          if (!isIdle(w.event)) {
            hook(w);
            continue;
          }
          const t1 = process.hrtime.bigint();
          hook(w);
          terminal[name].push(Number(process.hrtime.bigint() - t1));
        }
        if (name === "plugin") {
          expected += 2 * tagged;
          await settle();
        }
      }
    }
    rows.push({
      name: `whole recorded stream (${stream.events.length.toLocaleString()} events)`,
      unit: "ns/event",
      value: summarize(whole.plugin),
      baseline: summarize(whole.noop),
      baselineName: "no-op async hook",
    });
    rows.push({
      name: `the stream's non-session events, in order (${stream.events.filter((e) => !e.type.startsWith("session.")).length.toLocaleString()} events)`,
      unit: "ns/event",
      value: summarize(nonSession.plugin),
      baseline: summarize(nonSession.noop),
      baselineName: "no-op async hook",
      target: "≤ 1.5× no-op",
      met: summarize(nonSession.plugin).median <= 1.5 * summarize(nonSession.noop).median,
    });
    const timerFloor: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const t = process.hrtime.bigint();
      timerFloor.push(Number(process.hrtime.bigint() - t));
    }
    rows.push({
      name: "each idle, timed alone (incl. the run's terminal point)",
      unit: "ns/event",
      value: summarize(terminal.plugin),
      baseline: summarize(terminal.noop),
      baselineName: "no-op async hook",
      note: `each figure includes ~${summarize(timerFloor).median} ns of timer`,
    });

    // By type: each type's recorded instances replayed in a batch (steady state, no timer per call).
    const steady = stream.round(700_000);
    const groups = new Map<string, StreamEvent[]>();
    for (const event of steady) {
      const key = typeKey(event);
      const list = groups.get(key) ?? [];
      list.push(event);
      groups.set(key, list);
    }
    const iters = quick ? 5_000 : 20_000;
    const samples = quick ? 7 : 21;
    for (const [key, events] of groups) {
      const wrappers = wrap(events);
      const a: number[] = [];
      const b: number[] = [];
      for (let s = 0; s < samples; s++) {
        a.push(timeBatch(plugin, wrappers, iters));
        b.push(timeBatch(noopAsync, wrappers, iters));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const value = summarize(a);
      const baseline = summarize(b);
      const sessionEvent = key.startsWith("session.");
      rows.push({
        name: `${key} ×${events.length} in stream`,
        unit: "ns/event",
        value,
        baseline,
        ...(sessionEvent ? {} : { target: "≤ 1.5× no-op", met: value.median <= 1.5 * baseline.median }),
        ...(key.startsWith("session.status idle") || key === "session.idle"
          ? { note: "repeated: the later idles of a turn" }
          : {}),
      });
    }
    // Terminal events the batches above may have started must finish before the allocation probe.
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Allocation per delta event: heap used before and after N calls, gc forced before.
    const deltas = wrap(stream.round(800_000).filter((e) => e.type === "message.part.delta"));
    const allocIters = 5_000;
    const alloc = { plugin: [] as number[], noop: [] as number[], sync: [] as number[] };
    for (let s = 0; s < (quick ? 5 : 15); s++) {
      alloc.plugin.push(bytesPerCall(plugin, deltas, allocIters));
      alloc.noop.push(bytesPerCall(noopAsync, deltas, allocIters));
      alloc.sync.push(bytesPerCall(noopSync, deltas, allocIters));
    }
    rows.push({
      name: "heap allocated per message.part.delta",
      unit: "bytes/event",
      value: summarize(alloc.plugin),
      baseline: summarize(alloc.noop),
      baselineName: "no-op async hook",
      target: "no allocation",
      met: summarize(alloc.plugin).median < 1,
    });
    rows.push({
      name: "heap allocated per call, sync no-op (the probe's floor)",
      unit: "bytes/event",
      value: summarize(alloc.sync),
    });
    notes.push(
      `The no-op baseline is \`async () => {}\`, the smallest hook a plugin can write; its ns include the Promise every async hook returns. Batches: ${iters.toLocaleString()} calls cycling over the type's recorded instances, ${samples} samples, plugin and no-op alternating.`,
      `Allocation: \`gc()\`, \`process.memoryUsage().heapUsed\`, ${allocIters.toLocaleString()} calls over the recorded deltas, \`heapUsed\` again; the caller's \`{event}\` objects are built beforehand (OpenCode builds them for every plugin anyway).`,
      `The plugin's async work (settle from the replayed events, or a fallback read from a local stand-in for \`session.messages\`: ${harness.standInRequests()} reads; relay; receiver) is waited for between samples: ${harness.receiver.requests.length} callbacks delivered during this measurement. A replay hands a whole turn over without a loop turn between events, so the turn recorder's queue is drained on the terminal idle's stack: the idle row's p95 includes that.`,
    );
    log(`  ${harness.receiver.requests.length} callbacks, ${harness.standInRequests()} stand-in reads`);
  } finally {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await harness.close();
  }
  return {
    id: "hook",
    title: "1. Hook cost (recorded real stream through the event hook)",
    method:
      "The recorded `opencode serve` stream (test/fixtures/bench-stream.events.jsonl: a 2,000-chunk answer, a subagent, a 401) replayed through the real plugin's `event` hook and a no-op hook, same process, alternating. ns of the synchronous part (what OpenCode's hook loop waits for).",
    rows,
    notes,
  };
}

export const hookCost: Bench = { name: "hook", title: "hook cost per event", run };
