/**
 * `npm run bench`: what the plugin costs OpenCode and how fast the relay delivers, each figure
 * beside its baseline measured in the same run. A script, not a test: it prints figures and never
 * fails on a number. See BENCHMARKS.md for the published run.
 *
 *   npm run bench                      every measurement (~10 min on 2 cores)
 *   npm run bench -- --quick           fewer rounds, smaller inputs (~2 min)
 *   npm run bench -- --only hook,burst one or more by name (--help lists them)
 *   npm run bench -- --record-stream   re-record test/fixtures/bench-stream.* from a real opencode serve
 *   npm run bench -- --markdown FILE   also write the result tables to FILE
 *   npm run bench -- --help            this usage
 */
import { writeFile } from "node:fs/promises";
import { runChild } from "./bench/child-entry.ts";
import { machineMarkdown } from "./bench/machine.ts";
import { recordStream } from "./bench/record-stream.ts";
import { BENCHES, type BenchContext } from "./bench/registry.ts";
import { type Section, sectionMarkdown } from "./bench/stats.ts";
import { parseArgs } from "./cli/parse-command-args.ts";
import { isUsageError } from "./cli/usage-error.ts";

const USAGE = `usage: npm run bench -- [--quick] [--only NAME[,NAME…]] [--markdown FILE] [--record-stream]

  --quick           fewer rounds, smaller inputs (~2 min instead of ~10)
  --only NAMES      only these measurements: ${BENCHES.map((b) => b.name).join(", ")}
  --markdown FILE   also write the result tables to FILE
  --record-stream   re-record test/fixtures/bench-stream.* from a real opencode serve
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      "record-stream": { type: "boolean", default: false },
      markdown: { type: "string" },
      child: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.child !== undefined) return runChild(values.child);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (values["record-stream"]) {
    await recordStream(log);
    return 0;
  }
  const only = values.only?.split(",").map((name) => name.trim());
  const unknown = only?.filter((name) => !BENCHES.some((bench) => bench.name === name)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown bench ${unknown.join(", ")}; known: ${BENCHES.map((b) => b.name).join(", ")}\n`,
    );
    return 2;
  }
  const context: BenchContext = { quick: values.quick, log };
  const machine = await machineMarkdown();
  log(machine);
  const sections: Section[] = [];
  const started = performance.now();
  for (const bench of BENCHES) {
    if (only && !only.includes(bench.name)) continue;
    const t0 = performance.now();
    log(`\n▶ ${bench.name}: ${bench.title}`);
    try {
      const section = await bench.run(context);
      sections.push(section);
      log(`\n${sectionMarkdown(section)}`);
    } catch (error) {
      // A broken measurement is reported, never fatal: the others still run.
      log(
        `  ${bench.name} could not run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
    log(`  (${bench.name} took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  log(`\nbench finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (values.markdown) {
    await writeFile(values.markdown, `${machine}\n${sections.map(sectionMarkdown).join("\n")}`);
    log(`wrote ${values.markdown}`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isUsageError(error)) {
      process.stderr.write(`bench: ${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
