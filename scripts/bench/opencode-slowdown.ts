import { buildTitle } from "../../relay/index.ts";
import { startFakeModel } from "../dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../dev/opencode-server.ts";
import { BENCH_TOKEN } from "./plugin-harness.ts";
import type { Bench, BenchContext } from "./registry.ts";
import { cpuSeconds } from "./server-cpu.ts";
import { type Row, type Section, summarize } from "./stats.ts";
import { startTimingReceiver, type TimingReceiver } from "./timing-receiver.ts";

/**
 * (2) OpenCode slowdown: the same 2,000-chunk streamed turn in two real `opencode serve`
 * processes, one with the plugin installed (delivering to a local receiver) and one without,
 * turns alternating between them (the order swapped every round). Wall time of
 * `POST /session/:id/message` (it returns when the turn ends) and the server's CPU time.
 */

export const LONG_PROMPT = "[[fake:text chunks=2000]] write a long answer";

/** The relay configuration every benchmark server gets (paths relative to its config file). */
export function benchRelayConfig(receiver: TimingReceiver) {
  return {
    target: { kind: "openclaw-agent", url: `${receiver.url}/hooks`, token: "{env:BENCH_HOOKS_TOKEN}" },
    callbackSessionPrefixes: ["agent:main:"],
    audit: { path: "../../audit/audit.jsonl" },
    stateDir: "../../state",
  };
}

export function taggedTitle(runId: string): string {
  return buildTitle(`bench ${runId}`, {
    runId,
    taskId: `T-${runId}`,
    requested: "build",
    resolved: "build",
    callbackSession: "agent:main:main",
  });
}

interface Turn {
  wallMs: number;
  cpuMs: number;
  /** Server CPU from the prompt until 300 ms after the callback (or the turn, without plugin). */
  cycleCpuMs: number;
}

async function turn(
  server: OpencodeServer,
  runId: string,
  receiver: TimingReceiver | undefined,
): Promise<Turn> {
  const session = await server.createSession(taggedTitle(runId));
  const arrived = receiver?.next(60_000);
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  await server.prompt(session.id, LONG_PROMPT, 120_000);
  const wallMs = performance.now() - t0;
  const cpu1 = cpuSeconds(server.pid);
  if (arrived) await arrived;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const cpu2 = cpuSeconds(server.pid);
  return { wallMs, cpuMs: (cpu1 - cpu0) * 1000, cycleCpuMs: (cpu2 - cpu0) * 1000 };
}

async function run({ quick, log }: BenchContext): Promise<Section> {
  const rounds = quick ? 3 : 15;
  const model = await startFakeModel({ keepRequests: false });
  const receiver = await startTimingReceiver();
  const servers: OpencodeServer[] = [];
  try {
    const withPlugin = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      relayConfig: benchRelayConfig(receiver),
      env: { BENCH_HOOKS_TOKEN: BENCH_TOKEN },
    });
    servers.push(withPlugin);
    const without = await startOpencodeServer({ modelBaseURL: model.baseURL, bundlePath: null });
    servers.push(without);
    // A third server with a no-op plugin: what any plugin costs (OpenCode's own per-hook dispatch).
    const noop = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      bundlePath: null,
      extraPlugins: { "noop.js": "export const NoopPlugin = async () => ({ event: async () => {} });\n" },
    });
    servers.push(noop);
    // Warm-up turns: each directory's instance (and the plugin) starts on its first request.
    await turn(withPlugin, "warm-with", receiver);
    await turn(without, "warm-without", undefined);
    await turn(noop, "warm-noop", undefined);
    const a: Turn[] = [];
    const b: Turn[] = [];
    const c: Turn[] = [];
    const orders = [
      ["with", "without", "noop"],
      ["without", "noop", "with"],
      ["noop", "with", "without"],
    ];
    for (let r = 0; r < rounds; r++) {
      for (const which of orders[r % orders.length] as string[]) {
        if (which === "with") a.push(await turn(withPlugin, `slow-${r}`, receiver));
        else if (which === "without") b.push(await turn(without, `slow-${r}`, undefined));
        else c.push(await turn(noop, `slow-${r}`, undefined));
      }
      log(
        `  round ${r + 1}: with ${a.at(-1)?.wallMs.toFixed(0)} ms, without ${b.at(-1)?.wallMs.toFixed(0)} ms, no-op ${c.at(-1)?.wallMs.toFixed(0)} ms`,
      );
    }
    const s = (list: Turn[], key: keyof Turn) => summarize(list.map((t) => t[key]));
    const wall = s(a, "wallMs");
    const wallBase = s(b, "wallMs");
    const rows: Row[] = [
      {
        name: "turn wall time (POST /session/:id/message, 2,000 chunks)",
        unit: "ms",
        value: wall,
        baseline: wallBase,
        baselineName: "same server build, no plugin",
        target: "< 3% slower",
        met: wall.median < 1.03 * wallBase.median,
        note: `${((wall.median / wallBase.median - 1) * 100).toFixed(1)}% at p50`,
      },
      {
        name: "turn wall time, plugin vs a no-op plugin",
        unit: "ms",
        value: wall,
        baseline: s(c, "wallMs"),
        baselineName: "server with `async () => {}` as its only plugin",
      },
      {
        name: "turn wall time, no-op plugin vs no plugin",
        unit: "ms",
        value: s(c, "wallMs"),
        baseline: wallBase,
        note: "what OpenCode's hook dispatch costs any plugin",
      },
      {
        name: "server CPU during the turn (/proc utime+stime, 10 ms ticks)",
        unit: "ms",
        value: s(a, "cpuMs"),
        baseline: s(b, "cpuMs"),
      },
      {
        name: "server CPU, turn + callback delivered + 300 ms",
        unit: "ms",
        value: s(a, "cycleCpuMs"),
        baseline: s(b, "cycleCpuMs"),
      },
      {
        name: "server CPU during the turn, no-op plugin",
        unit: "ms",
        value: s(c, "cpuMs"),
        baseline: s(b, "cpuMs"),
      },
      {
        name: "server start-up to listening",
        unit: "ms",
        value: summarize([withPlugin.startupMs]),
        baseline: summarize([without.startupMs]),
        note: "one each",
      },
    ];
    return {
      id: "slowdown",
      title: "2. OpenCode slowdown (real opencode serve, 2,000-chunk turn)",
      method: `Three real \`opencode serve\` (opencode-ai 1.18.33) on one fake model: with the plugin, with no plugin, with a no-op plugin; ${rounds} turns each, rotating the order every round, after one warm-up turn each. With the plugin, each turn ends in a delivered callback, waited for before the next turn.`,
      rows,
      notes: [
        "The fake model streams its 2,000 chunks as fast as OpenCode reads them, so the turn is bound by OpenCode's own per-chunk work (parsing, bus events, storage): the most hook-heavy turn a real model can produce.",
      ],
    };
  } finally {
    for (const server of servers) await server.stop();
    await receiver.close();
    await model.close();
  }
}

export const opencodeSlowdown: Bench = {
  name: "slowdown",
  title: "OpenCode with vs without the plugin",
  run,
};
