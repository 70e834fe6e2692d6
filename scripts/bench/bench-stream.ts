import { readFileSync } from "node:fs";
import { STREAM_EVENTS, STREAM_MESSAGES } from "./record-stream.ts";

/** One OpenCode bus event as the plugin's hook receives it. */
export interface StreamEvent {
  id?: string;
  type: string;
  properties: Record<string, unknown>;
}

/**
 * The recorded stream (record-stream.ts): a 2,000-chunk answer, a subagent and a 401, from a real
 * `opencode serve`. `round(k)` gives a copy whose session ids and runIds carry a `_r<k>` suffix,
 * so each replay is a new run to the plugin (dedupe is per session and runId), and whose time
 * stamps are moved to just before now (the recording's 6.6 s pressed into ~7 ms, order kept): a
 * round's prompts are then newer than the plugin's start, as in OpenCode, so the plugin settles
 * from the events instead of taking its fallback read of recorded messages.
 */
export interface BenchStream {
  events: StreamEvent[];
  /** `GET /session/:id/message` per recorded session id. */
  messages: Record<string, unknown[]>;
  round(k: number): StreamEvent[];
  /** The round's events as JSON lines, to be parsed just before they are replayed (hot in cache). */
  roundLines(k: number): string[];
}

/**
 * Event types as shared strings, as OpenCode's own literals are: a freshly parsed copy of
 * "message.part.delta" per event would make every hook pay for hashing a new string.
 */
const TYPES = new Map<string, string>();
export function internType(event: StreamEvent): StreamEvent {
  const known = TYPES.get(event.type);
  if (known === undefined) TYPES.set(event.type, event.type);
  else event.type = known;
  return event;
}

/** An epoch-ms stamp of the recording (2026-11): `time.created`, `time.completed`, part times. */
const STAMP = /\b17\d{11}\b/g;

export function loadBenchStream(): BenchStream {
  const text = readFileSync(STREAM_EVENTS, "utf8");
  const parse = (source: string) =>
    source
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => internType(JSON.parse(line) as StreamEvent));
  const latest = Math.max(...(text.match(STAMP) ?? []).map(Number));
  const roundText = (k: number) => {
    const now = Date.now();
    return text
      .replace(/ses_[A-Za-z0-9]+/g, `$&_r${k}`)
      .replaceAll("runId=run-", `runId=run-r${k}-`)
      .replace(STAMP, (stamp) => String(now - 1 - Math.ceil((latest - Number(stamp)) / 1000)));
  };
  return {
    events: parse(text),
    messages: JSON.parse(readFileSync(STREAM_MESSAGES, "utf8")) as Record<string, unknown[]>,
    round: (k) => parse(roundText(k)),
    roundLines: (k) =>
      roundText(k)
        .split("\n")
        .filter((line) => line !== ""),
  };
}

/** The recorded session id behind a round's id (`ses_x_r3` → `ses_x`). */
export function recordedSessionId(id: string): string {
  return id.replace(/_r\d+$/, "");
}

/** Events that end a tagged run: the idles (the tracker's terminal point is the first after busy). */
export function isIdle(event: StreamEvent): boolean {
  return (
    event.type === "session.idle" ||
    (event.type === "session.status" &&
      (event.properties.status as { type?: unknown } | undefined)?.type === "idle")
  );
}
