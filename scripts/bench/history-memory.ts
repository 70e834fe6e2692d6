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
  /** Peak RSS of the process during the settle, above its RSS just before it (MB). */
  peakRssAboveMb: number;
  /** Heap in use with the settle's messages and run still referenced, above the heap before (MB). */
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
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const messages = await read(input.sessionId);
  const run = buildRun(end(input.sessionId), messages, "/");
  const ms = performance.now() - t0;
  const heapHeld = process.memoryUsage().heapUsed - heap0;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  if (run.sessionId !== input.sessionId) throw new Error("settled the wrong session");
  return {
    peakRssAboveMb: Math.max(0, peakRss - rss0) / MB,
    heapHeldMb: heapHeld / MB,
    messages: messages.length,
    ms,
  };
}

/** Parent: one sample in a fresh child. */
export function measureSettleMemory(input: SettleMemoryInput): Promise<SettleMemoryResult> {
  return runInChild<SettleMemoryResult>("settle-memory", input, 120_000);
}
