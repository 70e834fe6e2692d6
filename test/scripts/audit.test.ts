import { mkdtempSync, rmSync } from "node:fs";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../scripts/cli/cli.ts";
import type { CliIO } from "../../scripts/cli/cli-io.ts";
import type { RunSummary } from "../../scripts/cli/summarize-runs.ts";
import { generateAuditLog } from "../../scripts/gen-audit.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";

let dir: string;
let log: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "audit-cli-"));
  log = join(dir, "log", "audit.jsonl");
  await generateAuditLog({ path: log, records: 2_000, seed: 7, maxBytes: 64 * 1024 });
  // The sink check: every line the generator wrote parses as JSON.
  for (const line of (await readFile(log, "utf8")).split("\n").slice(0, -1)) JSON.parse(line);
});
afterAll(async () => {
  try {
    // Every file of the generated log (rotated ones too) parses, and goes into the suite-wide grep.
    await sinkAudit(log, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function run(
  args: string[],
  options: { color?: boolean; env?: Record<string, string>; columns?: number } = {},
) {
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: options.env ?? { HOME: dir, XDG_CONFIG_HOME: join(dir, "no-config") },
    cwd: dir,
    color: options.color ?? false,
    ...(options.columns === undefined ? {} : { columns: options.columns }),
  };
  const code = await main(["audit", ...args], io);
  return { code, stdout, stderr };
}

const jsonLines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as RunSummary);

describe("audit (run listing)", () => {
  it("prints one row per run, newest first, with a day heading", async () => {
    const { code, stdout } = await run(["--file", log]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^UTC\s+run\s+task\s+session\s+callback\s+outcome\s+state\s+att\s+lat\s+code$/);
    expect(lines[1]).toMatch(/^── \d{4}-\d{2}-\d{2}$/);
    expect(lines.at(-1)).toMatch(/^50 of [\d,]+ runs; --limit 0 shows all$/);
    expect(lines.filter((l) => /^\d\d:\d\d /.test(l))).toHaveLength(50);
    expect(stdout).not.toContain("\u001b[");
  });

  it("fits the terminal's width, never cutting the callback session or the code", async () => {
    const runs = jsonLines((await run(["--file", log, "--json", "--limit", "50"])).stdout);
    for (const columns of [60, 80, 200]) {
      const rows = (await run(["--file", log], { columns })).stdout
        .split("\n")
        .filter((l) => /^\d\d:\d\d /.test(l));
      expect(rows).toHaveLength(50);
      rows.forEach((row, i) => {
        const cells = row.split(/\s+/);
        expect(cells).toContain(runs[i]!.callbackSession ?? "-");
        if (runs[i]!.lastCode !== null) expect(cells.at(-1)).toBe(runs[i]!.lastCode);
      });
      const widest = Math.max(...rows.map((r) => [...r].length));
      if (columns === 200) {
        // Room for everything: nothing is cut at all.
        expect(widest).toBeLessThanOrEqual(200);
        expect(rows.join("\n")).not.toContain("…");
      }
    }
    // Wider terminals get wider tables: the 80-column default is only for pipes.
    const narrow = (await run(["--file", log])).stdout;
    const wide = (await run(["--file", log], { columns: 200 })).stdout;
    expect(wide).not.toBe(narrow);
  });

  it("never shows a failure code on a delivered run", async () => {
    const runs = jsonLines((await run(["--file", log, "--json"])).stdout);
    const delivered = runs.filter((r) => r.state === "delivered");
    expect(delivered.some((r) => r.attempts > 1)).toBe(true);
    for (const r of delivered) expect(r.lastCode).toBeNull();
  });

  it("colours only when io.color", async () => {
    expect((await run(["--file", log], { color: true })).stdout).toContain("\u001b[32mdelivered");
  });

  it("--json prints every run as a JSON line, newest first", async () => {
    const { code, stdout } = await run(["--file", log, "--json"]);
    expect(code).toBe(0);
    const list = jsonLines(stdout);
    const stats = JSON.parse((await run(["--file", log, "stats", "--json"])).stdout);
    expect(list).toHaveLength(stats.runs);
    const times = list.map((r) => r.firstTs);
    expect(times).toEqual([...times].sort().reverse());
    const states = new Set(list.map((r) => r.state));
    for (const s of ["delivered", "failed", "refused", "pending", "unknown"]) expect(states).toContain(s);
  });

  it("filters by --state, --run, --session and --since, and --limit caps rows", async () => {
    const failed = jsonLines((await run(["--file", log, "--json", "--state", "failed"])).stdout);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((r) => r.state === "failed" && r.lastCode === "DELIVERY_UNAUTHORIZED")).toBe(true);

    const one = jsonLines((await run(["--file", log, "--json", "--run", "run-42"])).stdout);
    expect(one.map((r) => r.runId)).toEqual(["run-42"]);

    const worker = jsonLines(
      (await run(["--file", log, "--json", "--session", "agent:main:worker-3"])).stdout,
    );
    expect(worker.length).toBeGreaterThan(0);
    expect(worker.every((r) => r.callbackSession === "agent:main:worker-3")).toBe(true);
    const bySession = jsonLines(
      (await run(["--file", log, "--json", "--session", one[0]!.sessionId!])).stdout,
    );
    expect(bySession.map((r) => r.runId)).toEqual(["run-42"]);

    const all = jsonLines((await run(["--file", log, "--json"])).stdout);
    const middle = all[Math.floor(all.length / 2)]!.lastTs;
    const recent = jsonLines((await run(["--file", log, "--json", "--since", middle])).stdout);
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.length).toBeLessThan(all.length);
    expect(recent.every((r) => r.lastTs >= middle)).toBe(true);

    expect(jsonLines((await run(["--file", log, "--json", "--limit", "3"])).stdout)).toHaveLength(3);
  });

  it("exits 1 when nothing matches, or there is no log", async () => {
    const none = await run(["--file", log, "--run", "run-none"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no runs match");
    const since = await run(["--file", log, "--since", "1h"]); // the generated log is from 2026-01
    expect(since.code).toBe(1);
    const missing = await run(["--file", join(dir, "missing.jsonl")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no audit log");
  });

  it("exits 2 on usage errors", async () => {
    for (const args of [
      ["bogus"],
      ["--state", "sideways"],
      ["--since", "yesterday"],
      ["--limit", "ten"],
      ["show"],
      ["show", "a", "b"],
      ["verify", "--state", "failed"],
      ["stats", "extra"],
      ["--nope"],
    ]) {
      expect((await run(["--file", log, ...args])).code, args.join(" ")).toBe(2);
    }
  });

  it("finds the log through --config-dir and the configuration's audit.path", async () => {
    const configDir = join(dir, "opencode");
    await mkdir(configDir, { recursive: true });
    await writeFile(
      join(configDir, "callback-relay.jsonc"),
      JSON.stringify({ target: { url: "http://127.0.0.1:18789/hooks" }, audit: { path: log } }),
    );
    const { code, stdout } = await run(["--config-dir", configDir, "verify"]);
    expect(code).toBe(0);
    expect(stdout).toContain(log);
  });
});

describe("audit show", () => {
  it("prints the timeline of a run: phases, request, response, codes and hints", async () => {
    const list = jsonLines((await run(["--file", log, "--json"])).stdout);
    const retried = list.find((r) => r.state === "delivered" && r.attempts === 2)!;
    const { code, stdout } = await run(["--file", log, "show", retried.runId!]);
    expect(code).toBe(0);
    expect(stdout).toContain(`run ${retried.runId}`);
    expect(stdout).toMatch(/accepted[\s\S]*attempt\s+#1\s+503\s+DELIVERY_HTTP_STATUS[\s\S]*retry_scheduled/);
    expect(stdout).toContain("request: POST http://127.0.0.1:18789/hooks/agent (openclaw-agent");
    expect(stdout).toContain('response: {"error":"busy"}');
    expect(stdout).toMatch(/delivered\s+status 200\s+after 2 attempt\(s\)/);
    const bySession = await run(["--file", log, "show", retried.sessionId!]);
    expect(bySession.stdout).toBe(stdout);
  });

  it("prints the records as JSON lines with --json, and exits 1 for an unknown id", async () => {
    const { stdout } = await run(["--file", log, "show", "run-42", "--json"]);
    const records = stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records.every((r) => r.runId === "run-42")).toBe(true);
    expect((await run(["--file", log, "show", "run-none"])).code).toBe(1);
  });
});

describe("audit stats", () => {
  it("counts runs by outcome and state, latency percentiles and top failure codes", async () => {
    const { code, stdout } = await run(["--file", log, "stats", "--json"]);
    expect(code).toBe(0);
    const stats = JSON.parse(stdout);
    expect(stats.records).toBe(2_000);
    const byState = Object.values(stats.byState as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(byState).toBe(stats.runs);
    expect(stats.latency.p50).toBeLessThanOrEqual(stats.latency.p95);
    expect(stats.latency.p95).toBeLessThanOrEqual(stats.latency.max);
    const counts = stats.topCodes.map((c: { count: number }) => c.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    const text = (await run(["--file", log, "stats"])).stdout;
    expect(text).toMatch(/latency\s+accepted → delivered over [\d,]+ runs: p50 \S+\s+p95 \S+\s+max \S+/);
    expect(text).toContain("DELIVERY_HTTP_STATUS");
  });
});

describe("audit verify", () => {
  it("prints ok with record and file counts", async () => {
    const { code, stdout } = await run(["--file", log, "verify"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ok: 2,000 records in \d+ files/);
  });

  it("exits 1 with the first problem's file and line", async () => {
    const copy = join(dir, "tampered");
    await cp(join(dir, "log"), copy, { recursive: true });
    const file = join(copy, "audit.jsonl.1");
    const lines = (await readFile(file, "utf8")).split("\n");
    lines[9] = lines[9]!.replace('"phase":"', '"phase":"x');
    await writeFile(file, lines.join("\n"));
    const { code, stdout } = await run(["--file", join(copy, "audit.jsonl"), "verify"]);
    expect(code).toBe(1);
    expect(stdout).toContain(`edited: ${file}:10:`);
    const json = JSON.parse((await run(["--file", join(copy, "audit.jsonl"), "verify", "--json"])).stdout);
    expect(json).toMatchObject({ ok: false, problem: { kind: "edited", file, line: 10 } });
  });
});
