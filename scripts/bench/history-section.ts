import type { SettleMemoryResult } from "./history-memory.ts";
import { once, type Row, type Section, summarize } from "./stats.ts";

/** How big the history bench makes things. */
export interface Sizes {
  turns: number;
  chunks: number;
  /** Copies of PHRASE per chunk: bytes per turn without more events per turn. */
  repeat: number;
  samples: number;
  memoryRounds: number;
}

export interface TurnTiming {
  /** Probe's idle stamp → callback received, ms. */
  callbackMs: number;
  /** Probe's idle stamp → the probe's own bare POST received, ms. */
  probeMs: number;
  /**
   * On the turns the probe also timed extra probes (their callback ran beside them: left out of
   * the callback rows), probe's idle stamp → its POST after: one turn of OpenCode's event loop; a
   * 1 KB file write + fsync; the same write made with synchronous calls; reading 4 messages
   * through its client. Ms; undefined for a probe that turn did not time.
   */
  extra?: {
    tickMs?: number | undefined;
    durableMs?: number | undefined;
    durableSyncMs?: number | undefined;
    readMs?: number | undefined;
  };
}

/** The section `npm run bench` prints for the history measurement. */
export function historySection(
  sizes: Sizes,
  longBytes: number,
  buildS: number,
  growthAll: TurnTiming[],
  longAll: TurnTiming[],
  freshAll: TurnTiming[],
  listing: { wholeLong: number[]; wholeFresh: number[]; windowLong: number[] },
  memory: { long: SettleMemoryResult[]; fresh: SettleMemoryResult[]; whole: SettleMemoryResult[] },
): Section {
  const mb = (longBytes / 2 ** 20).toFixed(1);
  const [longT, freshT] = [longAll, freshAll].map((list) => list.filter((t) => !t.extra)) as [
    TurnTiming[],
    TurnTiming[],
  ];
  const [longX, freshX] = [longAll, freshAll].map((list) => list.flatMap((t) => t.extra ?? [])) as [
    NonNullable<TurnTiming["extra"]>[],
    NonNullable<TurnTiming["extra"]>[],
  ];
  const growth = growthAll.filter((t) => !t.extra).map((t) => t.callbackMs);
  const callback = summarize(longT.map((t) => t.callbackMs));
  const freshCallback = summarize(freshT.map((t) => t.callbackMs));
  const peak = (list: SettleMemoryResult[]) => summarize(list.map((m) => m.peakRssAboveMb));
  const held = (list: SettleMemoryResult[]) => summarize(list.map((m) => m.heapHeldMb));
  const heapPeak = (list: SettleMemoryResult[]) => summarize(list.map((m) => m.peakHeapAboveMb));
  const first = summarize(growth.slice(0, 10));
  const last = summarize(growth.slice(-10));
  /** A row of the same measure on the long session's turns and the fresh sessions' turns, ms. */
  const longFresh = (name: string, ms: (t: TurnTiming) => number): Row => ({
    name,
    unit: "ms",
    value: summarize(longT.map(ms)),
    baseline: summarize(freshT.map(ms)),
  });
  /** The same, for an extra probe, on the turns that timed it. */
  const longFreshExtra = (
    name: string,
    ms: (x: NonNullable<TurnTiming["extra"]>) => number | undefined,
  ): Row => ({
    name,
    unit: "ms",
    value: summarize(longX.flatMap((x) => ms(x) ?? [])),
    baseline: summarize(freshX.flatMap((x) => ms(x) ?? [])),
  });
  const rows: Row[] = [
    {
      name: `turn end → callback, session of ${sizes.turns}+ turns (${mb} MB)`,
      unit: "ms",
      value: callback,
      baseline: freshCallback,
      baselineName: "a fresh session, same reply, interleaved",
      target: "≤ 1.1×",
      met: callback.median <= 1.1 * freshCallback.median,
    },
    longFreshExtra(
      "turn end → POST from a probe plugin after it read 4 messages through its client, long / fresh",
      (x) => x.readMs,
    ),
    longFreshExtra(
      "turn end → POST from the probe after a 1 KB file write + fsync (the floor for a durable callback), long / fresh",
      (x) => x.durableMs,
    ),
    longFreshExtra(
      "turn end → POST from the probe after the same write made with synchronous calls (the floor the relay's staged write is made for), long / fresh",
      (x) => x.durableSyncMs,
    ),
    longFreshExtra(
      "turn end → POST from the probe after one turn of OpenCode's event loop (setTimeout 0), long / fresh",
      (x) => x.tickMs,
    ),
    longFresh(
      "the plugin's own part: callback − the probe's bare POST of the same turn, long / fresh",
      (t) => t.callbackMs - t.probeMs,
    ),
    longFresh("turn end → bare POST from the probe plugin (the floor), long / fresh", (t) => t.probeMs),
    {
      name: `turn end → callback while the session grew, last 10 vs first 10 timed of ${sizes.turns} turns`,
      unit: "ms",
      value: last,
      baseline: first,
    },
    {
      name: `memory while settling the ${mb} MB session: peak JS heap + buffers above before`,
      unit: "MB",
      value: heapPeak(memory.long),
      baseline: heapPeak(memory.fresh),
      baselineName: "the same for a fresh one-turn session",
      target: "< 2 MB above a fresh session's",
      met: heapPeak(memory.long).median - heapPeak(memory.fresh).median < 2,
    },
    {
      name: "memory while settling: peak RSS above before (OS pages, noisy), long / fresh",
      unit: "MB",
      value: peak(memory.long),
      baseline: peak(memory.fresh),
    },
    {
      name: "memory while settling: heap + buffers held with the messages read, long / fresh",
      unit: "MB",
      value: held(memory.long),
      baseline: held(memory.fresh),
      note: `${memory.long[0]?.messages ?? 0} vs ${memory.fresh[0]?.messages ?? 0} messages read`,
    },
    {
      name: "the whole-history read settling did before (no limit): peak RSS above before, vs the window",
      unit: "MB",
      value: peak(memory.whole),
      baseline: peak(memory.long),
    },
    {
      name: "the whole-history read: heap + buffers held, vs the window",
      unit: "MB",
      value: held(memory.whole),
      baseline: held(memory.long),
    },
    {
      name: "GET /session/:id/message, whole long session vs whole fresh session",
      unit: "ms",
      value: summarize(listing.wholeLong),
      baseline: summarize(listing.wholeFresh),
    },
    {
      name: "GET /session/:id/message?limit=4 on the long session vs whole fresh session",
      unit: "ms",
      value: summarize(listing.windowLong),
      baseline: summarize(listing.wholeFresh),
    },
    { name: "long session as listed (GET without limit)", unit: "MB", value: once(longBytes / 2 ** 20) },
  ];
  return {
    id: "history",
    title: "7. History (settling a long session vs a fresh one)",
    method: `A real \`opencode serve\` with the plugin and a probe plugin; one tagged session grown to ${sizes.turns} turns (${buildS.toFixed(0)} s), each a streamed reply of ${sizes.chunks} chunks of ~${105 * sizes.repeat} bytes (~${(sizes.chunks * sizes.repeat * 20).toLocaleString("en-US")} words) under a new runId; then ${sizes.samples} turns on it interleaved with ${sizes.samples} one-turn fresh sessions. On one pair of turns in four the probe also times other ways to send (after a tick, an fsync, a read through its client), and on another a synchronous write + fsync; these run beside the plugin's callback of the same idle, so the callback rows, and the probe's bare POST, are the other two pairs, where the probe only sends its bare POST (${longT.length} long, ${freshT.length} fresh; the same half while the session grew); the extra probes' rows are the turns that timed them. Intervals start at the probe's stamp of the turn's first idle (\`session.status\` idle, the plugin's terminal point, stamped by the probe's hook, which the plugin file runs just before the plugin's own) and end when the receiver has the body; the receiver is a Node process of its own, not the bench's, which hosts the fake model and reads each long turn's ${mb} MB request just before the turn ends. Memory: a fresh \`node --expose-gc\` per sample runs the plugin's read path (SDK client, readLastTurn, buildRun) against the same server after a warm-up settle, ${sizes.memoryRounds} rounds.`,
    rows,
    notes: [
      "Settling takes the turn from the events the hook saw (plugin/turn-recorder.ts) and reads nothing; when they do not hold the turn whole it reads `GET /session/:id/message?limit=4`, growing the window ×4 only while the turn's user message is not in it (plugin/read-last-turn.ts). The memory rows measure that read; the whole-history rows show what a settle read before issue 12.",
    ],
  };
}
