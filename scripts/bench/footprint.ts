import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import type { PluginInput } from "@opencode-ai/plugin";
import { createOpencodeClient } from "@opencode-ai/sdk";
import { audit } from "../cli/commands/audit.ts";
import { DEFAULT_BUNDLE } from "../dev/opencode-server.ts";
import { childInput, runInChild } from "./child.ts";
import { BENCH_TOKEN } from "./plugin-harness.ts";
import type { Bench, BenchContext } from "./registry.ts";
import { once, type Row, type Section, summarize } from "./stats.ts";

/**
 * (6) Footprint: the bundle's size and what fills it (an esbuild metafile of the same build),
 * plugin init time in a fresh process against a no-op plugin, and `audit stats` over a generated
 * log of 1,000,000 records against just reading and parsing every line of the same files.
 */

const run$ = promisify(execFile);
const repoRoot = dirname(dirname(DEFAULT_BUNDLE));

interface InitInput {
  dir: string;
  module: string;
}
interface InitResult {
  importMs: number;
  initMs: number;
  rssMb: number;
}

async function timeInit(input: InitInput, options: Record<string, unknown> | undefined): Promise<InitResult> {
  const pluginInput = {
    client: createOpencodeClient({ baseUrl: "http://127.0.0.1:9" }),
    project: { id: "global", worktree: input.dir, vcs: "git", time: { created: 0 } },
    directory: input.dir,
    worktree: input.dir,
    serverUrl: new URL("http://127.0.0.1:9/"),
    experimental_workspace: { register() {} },
    $: undefined,
  } as unknown as PluginInput;
  const t0 = performance.now();
  const mod = (await import(pathToFileURL(input.module).href)) as Record<
    string,
    (input: PluginInput, options?: Record<string, unknown>) => Promise<unknown>
  >;
  const t1 = performance.now();
  const plugin = Object.values(mod)[0];
  if (!plugin) throw new Error(`${input.module} exports no plugin`);
  const hooks = (await plugin(pluginInput, options)) as { event?: unknown };
  const t2 = performance.now();
  if (typeof hooks.event !== "function") throw new Error("no event hook: the configuration was refused");
  return { importMs: t1 - t0, initMs: t2 - t1, rssMb: process.memoryUsage().rss / 2 ** 20 };
}

/** Child: import the plugin bundle and run its init (config from options, audit and state in a temp dir). */
export function initPluginChild(): Promise<InitResult> {
  const input = childInput<InitInput>();
  return timeInit(input, {
    target: { url: "http://127.0.0.1:9/hooks", token: BENCH_TOKEN },
    stateDir: join(input.dir, "state"),
    audit: { path: join(input.dir, "audit.jsonl") },
  });
}

/** Child: the same for a no-op plugin file. */
export function initNoopChild(): Promise<InitResult> {
  return timeInit(childInput<InitInput>(), undefined);
}

interface StatsResult {
  ms: number;
  peakRssMb: number;
  out: string;
}

/** Child: `audit stats --file <log>` in-process (the CLI's work without Node's start-up). */
export async function auditStatsChild(): Promise<StatsResult> {
  const { file } = childInput<{ file: string }>();
  let out = "";
  const t0 = performance.now();
  const code = await audit(["stats", "--file", file], {
    stdout: (text: string) => {
      out += text;
    },
    stderr: (text: string) => {
      out += text;
    },
    env: {},
    cwd: process.cwd(),
    color: false,
  } as never);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`audit stats exited ${code}: ${out.slice(0, 500)}`);
  return { ms, peakRssMb: process.resourceUsage().maxRSS / 1024, out: out.slice(0, 2_000) };
}

/** Child: the floor: read every file of the log line by line and JSON.parse each line. */
export async function auditReadChild(): Promise<StatsResult> {
  const { file } = childInput<{ file: string }>();
  const dir = dirname(file);
  const base = file.slice(dir.length + 1);
  const files = (await readdir(dir)).filter((name) => name === base || name.startsWith(`${base}.`));
  const t0 = performance.now();
  let records = 0;
  for (const name of files) {
    if (!/^[^.]*\.jsonl(\.\d+)?$/.test(name)) continue;
    const lines = createInterface({
      input: createReadStream(join(dir, name)),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    for await (const line of lines) {
      if (line === "") continue;
      JSON.parse(line);
      records++;
    }
  }
  return {
    ms: performance.now() - t0,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    out: `${records} records`,
  };
}

/**
 * Write the log with scripts/gen-audit.ts, bundled and run on its own as its header says: bundled
 * into dist/bench.js its "am I the entry?" check would see bench.js and run its CLI at import.
 */
async function generateLog(dir: string, file: string, records: number): Promise<void> {
  const gen = join(dir, "gen-audit.mjs");
  await run$(
    join(repoRoot, "node_modules", ".bin", "esbuild"),
    [
      "scripts/gen-audit.ts",
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--main-fields=module,main",
      "--log-level=error",
      "--banner:js=import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);",
      `--outfile=${gen}`,
    ],
    { cwd: repoRoot },
  );
  await run$(process.execPath, [gen, "--file", file, "--records", String(records)], {
    cwd: repoRoot,
    timeout: 600_000,
    maxBuffer: 16 * 2 ** 20,
  });
}

/**
 * What fills the bundle: an esbuild metafile of the same entry and options as scripts/build.mjs
 * (including its one-llhttp resolver, mirrored here: build.mjs writes no metafile). The bytes add
 * up to the bundle's size less the banner.
 */
async function bundleInputs(dir: string): Promise<Array<[string, number]>> {
  const meta = join(dir, "meta.json");
  const script = join(dir, "metafile.mjs");
  await writeFile(
    script,
    `import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
const { build } = createRequire(${JSON.stringify(join(repoRoot, "package.json"))})("esbuild");
const oneLlhttp = { name: "one-llhttp", setup(b) {
  b.onResolve({ filter: /llhttp_simd-wasm\\.js$/ }, (args) => ({
    path: join(args.resolveDir, args.path.replace("llhttp_simd-wasm.js", "llhttp-wasm.js")),
  }));
} };
const result = await build({ absWorkingDir: ${JSON.stringify(repoRoot)}, entryPoints: ["plugin/index.ts"],
  bundle: true, format: "esm", platform: "node", target: ["node20"], mainFields: ["module", "main"],
  plugins: [oneLlhttp], legalComments: "none", logLevel: "error", minify: true, write: false, metafile: true,
  outfile: ${JSON.stringify(join(dir, "bundle.js"))} });
writeFileSync(${JSON.stringify(meta)}, JSON.stringify(result.metafile));
`,
  );
  await run$(process.execPath, [script], { cwd: repoRoot });
  const parsed = JSON.parse(await readFile(meta, "utf8")) as {
    outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const byPackage = new Map<string, number>();
  for (const output of Object.values(parsed.outputs)) {
    for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      const key = match?.[1] ?? `${path.split("/")[0]}/ (this project)`;
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage].sort((a, b) => b[1] - a[1]);
}

async function run({ quick, log }: BenchContext): Promise<Section> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), "ocr-bench-footprint-"));
  try {
    const bytes = (await stat(DEFAULT_BUNDLE)).size;
    const gz = gzipSync(await readFile(DEFAULT_BUNDLE)).length;
    rows.push({
      name: "plugin bundle, minified (dist/opencode-callback-relay.js)",
      unit: "KB",
      value: once(bytes / 1000),
      target: "≤ 400 KB",
      met: bytes <= 400_000,
      note: `${(gz / 1000).toFixed(0)} KB gzipped`,
    });
    try {
      const inputs = await bundleInputs(dir);
      const total = inputs.reduce((sum, [, n]) => sum + n, 0);
      notes.push(
        `What fills the bundle (esbuild metafile, ${(total / 1000).toFixed(0)} KB attributed): ${inputs
          .slice(0, 8)
          .map(([name, n]) => `${name} ${(n / 1000).toFixed(0)} KB (${((100 * n) / total).toFixed(0)}%)`)
          .join(", ")}.`,
      );
    } catch (error) {
      notes.push(`metafile analysis failed: ${String(error)}`);
    }

    // Init: import + init in a fresh process, plugin and no-op alternating.
    const noopModule = join(dir, "noop-plugin.js");
    await writeFile(noopModule, "export const NoopPlugin = async () => ({ event: async () => {} });\n");
    const env = {
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_DATA_HOME: join(dir, "data"),
      XDG_STATE_HOME: join(dir, "state"),
    };
    const plugin: InitResult[] = [];
    const noop: InitResult[] = [];
    for (let i = 0; i < (quick ? 3 : 10); i++) {
      plugin.push(await runInChild<InitResult>("init-plugin", { dir, module: DEFAULT_BUNDLE }, 60_000, env));
      noop.push(await runInChild<InitResult>("init-noop", { dir, module: noopModule }, 60_000, env));
    }
    const s = (list: InitResult[], key: keyof InitResult) => summarize(list.map((r) => r[key]));
    rows.push(
      {
        name: "bundle import (fresh Node process)",
        unit: "ms",
        value: s(plugin, "importMs"),
        baseline: s(noop, "importMs"),
        baselineName: "no-op plugin file",
      },
      {
        name: "plugin init (config, audit, relay; recovery left running)",
        unit: "ms",
        value: s(plugin, "initMs"),
        baseline: s(noop, "initMs"),
        baselineName: "no-op plugin",
      },
      {
        name: "RSS after init",
        unit: "MB",
        value: s(plugin, "rssMb"),
        baseline: s(noop, "rssMb"),
        baselineName: "no-op plugin (same bench process image)",
      },
    );

    // audit stats over a generated log.
    const records = quick ? 100_000 : 1_000_000;
    const file = join(dir, "audit", "audit.jsonl");
    const g0 = performance.now();
    await generateLog(dir, file, records);
    const logBytes = (await readdir(dirname(file)))
      .filter((name) => name.startsWith("audit.jsonl"))
      .map((name) => stat(join(dirname(file), name)).then((st) => st.size));
    const totalBytes = (await Promise.all(logBytes)).reduce((a, b) => a + b, 0);
    log(
      `  generated ${records.toLocaleString()} records (${(totalBytes / 1e6).toFixed(0)} MB) in ${((performance.now() - g0) / 1000).toFixed(1)} s`,
    );
    const stats: StatsResult[] = [];
    const floor: StatsResult[] = [];
    for (let i = 0; i < (quick ? 2 : 3); i++) {
      stats.push(await runInChild<StatsResult>("audit-stats", { file }, 300_000));
      floor.push(await runInChild<StatsResult>("audit-read", { file }, 300_000));
    }
    rows.push(
      {
        name: `\`audit stats\` over ${records.toLocaleString()} records (${(totalBytes / 1e6).toFixed(0)} MB, rotated files)`,
        unit: "s",
        value: summarize(stats.map((r) => r.ms / 1000)),
        baseline: summarize(floor.map((r) => r.ms / 1000)),
        baselineName: "read + JSON.parse every line",
      },
      {
        name: "`audit stats` peak RSS",
        unit: "MB",
        value: summarize(stats.map((r) => r.peakRssMb)),
        baseline: summarize(floor.map((r) => r.peakRssMb)),
        baselineName: "read + JSON.parse every line",
      },
    );
    notes.push(
      "Init is timed in Node (OpenCode runs plugins in its embedded Bun): a fresh `node dist/bench.js --child init-plugin` imports the bundle and calls the plugin with options naming a target, a stateDir and an audit path in a temp dir; the no-op plugin is a one-line file.",
      `\`audit stats\` runs the CLI command's function in a fresh process (no Node start-up counted); the log is written by scripts/gen-audit.ts through the real audit writer. Output head: ${JSON.stringify(stats[0]?.out.split("\n").slice(0, 3).join(" / "))}.`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    id: "footprint",
    title: "6. Footprint (bundle, init, audit stats)",
    method:
      "Bundle bytes on disk after `node scripts/build.mjs`; init and `audit stats` each in fresh processes, beside their baselines.",
    rows,
    notes,
  };
}

export const footprint: Bench = { name: "footprint", title: "bundle size, init time, audit stats", run };
