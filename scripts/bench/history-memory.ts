import { createOpencodeClient } from "@opencode-ai/sdk";
import { clientReader } from "../../plugin/create-event-hook.ts";
import { readLastTurn } from "../../plugin/read-last-turn.ts";
import { buildRun } from "../../plugin/settle-run.ts";
import { childInput, runInChild } from "./child.ts";

/**
 * Memory a settle holds, measured in a fresh Node process per sample: the plugin's own read path
 * (`clientReader` over the real v1 SDK client, `readLastTurn`, `buildRun`) against a real
 * `opencode serve`, after a warm-up settle of another session so that code loading and the
 * keep-alive socket are not counted.
 */

export interface SettleMemoryInput {
  url: string;
  /** The session to settle. */
  sessionId: string;
  /** A different small session, settled first to warm the code paths up. */
  warmSessionId: string;
  /** Read the whole history, as settling did before the last-turn window (for comparison). */
  whole: boolean;
}

export interface SettleMemoryResult {
  /** Peak RSS during the settle (sampled every 1 ms and once at its end), above the RSS before (MB). */
  peakRssAboveMb: number;
  /** Peak JS heap + array buffers (the response body) during the settle, above before (MB). */
  peakHeapAboveMb: number;
  /** Heap + buffers in use with the settle's messages and run still referenced, above before (MB). */
  heapHeldMb: number;
  /** Messages the settle read. */
  messages: number;
  ms: number;
}

const MB = 2 ** 20;

/** Child: one settle of `sessionId`, its memory above the warmed-up process's. */
export async function settleMemoryChild(): Promise<SettleMemoryResult> {
  const input = childInput<SettleMemoryInput>();
  const reader = clientReader(createOpencodeClient({ baseUrl: input.url }));
  const read = (id: string) => (input.whole ? reader.messages(id) : readLastTurn(reader, id));
  const end = (sessionId: string) => ({
    sessionId,
    pinnedTitle: "bench",
    currentTitle: "bench",
    startedAt: 0,
    endedAt: Number.POSITIVE_INFINITY,
    endedInRetry: false,
  });
  const warm = await read(input.warmSessionId);
  buildRun(end(input.warmSessionId), warm, "/");
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  // Not maxRSS: the process's own start-up peak would hide the settle's.
  const used = () => {
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
  };
  const before = used();
  const peak = { ...before };
  const sample = () => {
    const now = used();
    peak.rss = Math.max(peak.rss, now.rss);
    peak.heap = Math.max(peak.heap, now.heap);
    return now;
  };
  const timer = setInterval(sample, 1);
  const t0 = performance.now();
  const messages = await read(input.sessionId);
  const run = buildRun(end(input.sessionId), messages, "/");
  const ms = performance.now() - t0;
  const held = sample();
  clearInterval(timer);
  if (run.sessionId !== input.sessionId) throw new Error("settled the wrong session");
  return {
    peakRssAboveMb: (peak.rss - before.rss) / MB,
    peakHeapAboveMb: (peak.heap - before.heap) / MB,
    heapHeldMb: (held.heap - before.heap) / MB,
    messages: messages.length,
    ms,
  };
}

/** Parent: one sample in a fresh child. */
export function measureSettleMemory(input: SettleMemoryInput): Promise<SettleMemoryResult> {
  return runInChild<SettleMemoryResult>("settle-memory", input, 120_000);
}
