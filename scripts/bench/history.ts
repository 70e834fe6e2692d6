import { startFakeModel } from "../dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../dev/opencode-server.ts";
import { measureSettleMemory, type SettleMemoryResult } from "./history-memory.ts";
import { historySection, type Sizes, type TurnTiming } from "./history-section.ts";
import { benchRelayConfig, taggedTitle } from "./opencode-slowdown.ts";
import { BENCH_TOKEN } from "./plugin-harness.ts";
import {
  DURABLE_POST,
  DURABLE_SYNC_POST,
  IS_IDLE_STATUS,
  PLUGIN_FILES,
  PROBE_IMPORTS,
  PROBE_POST,
  takeProbedIdle,
} from "./probe-source.ts";
import type { Bench, BenchContext } from "./registry.ts";
import type { Section } from "./stats.ts";
import { startRemoteTimingReceiver, type TimingReceiver } from "./timing-receiver.ts";

/**
 * (7) History: does settling cost grow with the session? One tagged session grown to `turns`
 * turns of a long streamed reply each (a new runId per turn), then turns on it interleaved with
 * turns on fresh sessions: turn end (the first idle after busy, `session.status` idle, stamped by a probe
 * plugin) → callback received. Then the memory a settle holds, in fresh Node processes running
 * the plugin's read path against the same server: the long session vs a fresh one.
 */

/**
 * Stamps the first idle (`session.status` idle: the plugin's terminal point) after each busy of
 * every session, before the plugin's hook has it (PLUGIN_FILES), and POSTs the stamp at once
 * (`/probe`: the floor for any plugin). On one pair of turns in four (pairs, so that the
 * interleaved long and fresh turns, and the growth phase's, are timed alike) it also times the
 * floors of other ways to send: after one turn of OpenCode's event loop (`/probe-tick`); after
 * writing and fsyncing a small file (`/probe-durable`: a plugin that makes its callback durable
 * with asynchronous file calls); after reading the session's newest 4 messages through its own
 * client (`/probe-read`: a plugin that reads). On another pair in four it times the same write
 * made with synchronous calls (`/probe-durable-sync`, as the relay's staged write is made), apart
 * from the others as it holds the event loop. The extra probes run beside the plugin's callback of
 * the same idle (the fsync shares the disk with the relay's flush, the read OpenCode's server), so
 * the callback rows are taken from the other two pairs, where the probe only sends its bare POST.
 */
const TURN_PROBE = `${PROBE_IMPORTS}
const url = process.env.BENCH_PROBE_URL;
const busy = new Set();
let n = 0;
export const BenchTurnProbe = async ({ client }) => ({
  event: async ({ event }) => {
    const id = event.properties && event.properties.sessionID;
    if (event.type === "session.status" && event.properties.status && event.properties.status.type === "busy") busy.add(id);
    if (!${IS_IDLE_STATUS} || !busy.has(id)) return;
    busy.delete(id);
    const t = performance.timeOrigin + performance.now();
    const kind = Math.floor(n++ / 2) % 4;
    const sends = kind === 1 ? ["-tick", "-durable", "-read"] : kind === 3 ? ["-durable-sync"] : [];
    ${PROBE_POST}
    post("");
    if (kind === 3) ${DURABLE_SYNC_POST}
    if (kind !== 1) return;
    setTimeout(() => post("-tick"), 0);
    ${DURABLE_POST}
    await client.session.messages({ path: { id }, query: { limit: 4 } });
    post("-read");
  },
});
`;

/** ~104 bytes, 20 words (`_` are spaces): `repeat` copies make one chunk, sent `chunks` times. */
const PHRASE =
  "the_relay_settles_only_the_last_turn_of_a_long_session_so_every_callback_costs_the_same_however_long_it_grows";

/** ~105 KB and ~20,000 words per reply: 200 turns make a ~20 MB session. */
const FULL: Sizes = { turns: 200, chunks: 250, repeat: 4, samples: 60, memoryRounds: 5 };
/** ~26 KB and ~5,000 words per reply, 40 turns: ~1.2 MB. */
const QUICK: Sizes = { turns: 40, chunks: 250, repeat: 1, samples: 8, memoryRounds: 2 };

async function turn(
  server: OpencodeServer,
  receiver: TimingReceiver,
  sessionId: string,
  runId: string,
  prompt: string,
): Promise<TurnTiming> {
  await server.patchTitle(sessionId, taggedTitle(runId));
  await server.prompt(sessionId, prompt, 300_000);
  const idle = await takeProbedIdle(receiver, 60_000);
  // takeProbedIdle checked that each path the stamp names is there.
  const ms = (suffix: string) => (idle.sent(suffix) ? idle.after(`/probe${suffix}`) : undefined);
  const timing: TurnTiming = { callbackMs: idle.callbackMs, probeMs: idle.after("/probe") ?? Number.NaN };
  if (idle.stamp.sends.length === 0) return timing;
  return {
    ...timing,
    extra: {
      tickMs: ms("-tick"),
      durableMs: ms("-durable"),
      durableSyncMs: ms("-durable-sync"),
      readMs: ms("-read"),
    },
  };
}

/** `GET /session/:id/message[?limit]` from this process: ms and bytes. */
async function timeListing(server: OpencodeServer, sessionId: string, limit?: number) {
  const t0 = performance.now();
  const res = await fetch(`${server.url}/session/${sessionId}/message${limit ? `?limit=${limit}` : ""}`);
  const bytes = (await res.arrayBuffer()).byteLength;
  return { ms: performance.now() - t0, bytes };
}

async function run({ quick, log }: BenchContext): Promise<Section> {
  const sizes = quick ? QUICK : FULL;
  const text = Array.from({ length: sizes.repeat }, () => PHRASE).join("_");
  const prompt = `[[fake:text chunks=${sizes.chunks} text=${text}]] answer at length`;
  const model = await startFakeModel({ keepRequests: false });
  const receiver = await startRemoteTimingReceiver();
  let server: OpencodeServer | undefined;
  try {
    server = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      relayConfig: benchRelayConfig(receiver),
      bundlePath: null,
      extraPlugins: PLUGIN_FILES(TURN_PROBE),
      env: { BENCH_HOOKS_TOKEN: BENCH_TOKEN, BENCH_PROBE_URL: `${receiver.url}/probe` },
      requestTimeoutMs: 300_000,
    });
    const long = await server.createSession(taggedTitle("history-0"));
    const t0 = performance.now();
    const growth: TurnTiming[] = [];
    for (let i = 0; i < sizes.turns; i += 1) {
      growth.push(await turn(server, receiver, long.id, `history-${i}`, prompt));
      if ((i + 1) % 25 === 0) log(`  ${i + 1} turns, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    const buildS = (performance.now() - t0) / 1000;
    const wholeLong = await timeListing(server, long.id);
    log(
      `  long session: ${sizes.turns} turns, ${(wholeLong.bytes / 2 ** 20).toFixed(1)} MB listed, ${buildS.toFixed(0)} s`,
    );

    // Interleaved: a turn on the long session, then one on a fresh session, same reply.
    const longT: TurnTiming[] = [];
    const freshT: TurnTiming[] = [];
    let fresh = long;
    for (let i = 0; i < sizes.samples; i += 1) {
      longT.push(await turn(server, receiver, long.id, `history-long-${i}`, prompt));
      fresh = await server.createSession(taggedTitle(`history-fresh-${i}`));
      freshT.push(await turn(server, receiver, fresh.id, `history-fresh-${i}`, prompt));
    }

    const listing = { wholeLong: [] as number[], wholeFresh: [] as number[], windowLong: [] as number[] };
    for (let i = 0; i < sizes.samples; i += 1) {
      listing.wholeLong.push((await timeListing(server, long.id)).ms);
      listing.wholeFresh.push((await timeListing(server, fresh.id)).ms);
      listing.windowLong.push((await timeListing(server, long.id, 4)).ms);
    }

    const memory = {
      long: [] as SettleMemoryResult[],
      fresh: [] as SettleMemoryResult[],
      whole: [] as SettleMemoryResult[],
    };
    for (let i = 0; i < sizes.memoryRounds; i += 1) {
      const base = { url: server.url, warmSessionId: fresh.id };
      memory.long.push(await measureSettleMemory({ ...base, sessionId: long.id, whole: false }));
      memory.fresh.push(await measureSettleMemory({ ...base, sessionId: fresh.id, whole: false }));
      memory.whole.push(await measureSettleMemory({ ...base, sessionId: long.id, whole: true }));
    }
    return historySection(sizes, wholeLong.bytes, buildS, growth, longT, freshT, listing, memory);
  } finally {
    await server?.stop();
    await receiver.close();
    await model.close();
  }
}

export const history: Bench = {
  name: "history",
  title: "settling a long session vs a fresh one in a real opencode serve",
  run,
};
