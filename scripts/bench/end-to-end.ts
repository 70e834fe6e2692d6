import { startFakeModel } from "../dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../dev/opencode-server.ts";
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
import { type Row, type Section, summarize } from "./stats.ts";
import { startTimingReceiver } from "./timing-receiver.ts";

/**
 * (5) End to end in OpenCode: the turn's idle → the callback received. A probe plugin in the same
 * server stamps the first idle of each session (`session.status` idle, the plugin's terminal point;
 * a `session.idle` follows it), epoch ms with sub-ms, just before the plugin's hook has it (one
 * plugin file runs both, PLUGIN_FILES), and POSTs it at once with a bare `fetch` to the same receiver: that POST is the baseline (the fastest any plugin can
 * get a request out after the idle), and its stamp is the start of every interval. It also POSTs
 * after writing and fsyncing a 1 KB file (`/probe-durable`): the floor for a plugin that makes
 * its callback durable before sending it with asynchronous file calls; and, every other session,
 * after the same write with synchronous calls (`/probe-durable-sync`, as the relay's staged
 * write is made). The synchronous write holds the event loop, so those sessions' callbacks are
 * left out of the callback rows.
 */

const PROBE = `${PROBE_IMPORTS}
const url = process.env.BENCH_PROBE_URL;
const seen = new Set();
let n = 0;
export const BenchIdleProbe = async () => ({
  event: async ({ event }) => {
    if (!${IS_IDLE_STATUS}) return;
    const id = event.properties && event.properties.sessionID;
    if (seen.has(id)) return;
    seen.add(id);
    const t = performance.timeOrigin + performance.now();
    const sync = n++ % 2 === 1;
    const sends = sync ? ["-durable", "-durable-sync"] : ["-durable"];
    ${PROBE_POST}
    post("");
    ${DURABLE_POST}
    if (sync) ${DURABLE_SYNC_POST}
  },
});
`;

async function run({ quick, log }: BenchContext): Promise<Section> {
  const turns = quick ? 10 : 60;
  const model = await startFakeModel({ keepRequests: false });
  const receiver = await startTimingReceiver();
  let server: OpencodeServer | undefined;
  try {
    server = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      relayConfig: benchRelayConfig(receiver),
      bundlePath: null,
      extraPlugins: PLUGIN_FILES(PROBE),
      env: { BENCH_HOOKS_TOKEN: BENCH_TOKEN, BENCH_PROBE_URL: `${receiver.url}/probe` },
    });
    const pluginMs: number[] = [];
    const probeMs: number[] = [];
    const durableMs: number[] = [];
    const syncMs: number[] = [];
    for (let i = -2; i < turns; i++) {
      const session = await server.createSession(taggedTitle(`e2e-${i + 2}`));
      await server.prompt(session.id, "[[fake:text chunks=20]] a short answer", 60_000);
      const idle = await takeProbedIdle(receiver, 20_000);
      if (i < 0) continue; // warm-up (the first turn also starts the plugin)
      if (idle.sent("-durable-sync")) {
        syncMs.push(idle.after("/probe-durable-sync") ?? Number.NaN);
        continue;
      }
      pluginMs.push(idle.callbackMs);
      probeMs.push(idle.after("/probe") ?? Number.NaN);
      durableMs.push(idle.after("/probe-durable") ?? Number.NaN);
    }
    const value = summarize(pluginMs);
    const baseline = summarize(probeMs);
    log(`  p50 ${value.median.toFixed(1)} ms (bare fetch from the probe: ${baseline.median.toFixed(1)} ms)`);
    const rows: Row[] = [
      {
        name: "idle → callback received",
        unit: "ms",
        value,
        baseline,
        baselineName: "bare fetch POST from a probe plugin at the same idle",
        target: "p50 < 25 ms (issue 12; was < 50 ms)",
        met: value.median < 25,
      },
      {
        name: "idle → callback received, vs the probe's POST after a 1 KB write + fsync",
        unit: "ms",
        value,
        baseline: summarize(durableMs),
        baselineName: "the floor for a durable callback with asynchronous file calls, same idle",
      },
      {
        name: "idle → callback received, vs the probe's POST after the same write made with synchronous calls",
        unit: "ms",
        value,
        baseline: summarize(syncMs),
        baselineName: "the floor with synchronous file calls (the other sessions)",
      },
    ];
    return {
      id: "e2e",
      title: "5. End to end in OpenCode (idle → receiver)",
      method: `A real \`opencode serve\` with the plugin and a probe plugin; ${turns} tagged sessions of one short streamed turn each (after 2 warm-up turns). The probe times a synchronous write + fsync on every other session, which holds the event loop: the callback rows are the other ${turns / 2}. Both intervals start at the probe's stamp of the session's first idle (\`session.status\` idle, the plugin's terminal point, stamped by the probe's hook, which the plugin file runs just before the plugin's own) and end when the receiver (in the bench process) has the body; clocks are the same machine's (performance.timeOrigin + now in Bun and Node).`,
      rows,
      notes: [
        "The plugin's interval includes its settle (the turn as the hook's events told it, plugin/turn-recorder.ts; no read of the session), then integrity, dedupe claim, outbox write and fsync, and audit before the POST.",
      ],
    };
  } finally {
    await server?.stop();
    await receiver.close();
    await model.close();
  }
}

export const endToEnd: Bench = {
  name: "e2e",
  title: "idle → receiver in a real opencode serve",
  run,
};
