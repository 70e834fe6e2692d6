import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForChild } from "../helpers/bundle-for-child.ts";
import { runNodeChild } from "../helpers/run-node-child.ts";

/** `npm run bench`'s own flags: usage on --help, and a bad flag answered like the CLI's, exit 2. */

let tmp: string;
let bench: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "ocr-bench-cli-"));
  bench = await bundleForChild("scripts/bench.ts", tmp);
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const run = (...args: string[]) => runNodeChild(bench, {}, 60_000, undefined, args);

describe("npm run bench: its flags", () => {
  it("--help prints usage naming every measurement, exit 0, and runs nothing", async () => {
    const end = await run("--help");
    expect(end.code).toBe(0);
    expect(end.out).toMatch(/^usage: npm run bench -- /);
    expect(end.out).toContain("hook, slowdown, latency, burst, e2e, footprint, history, journal");
    expect(end.err).toBe("");
  });

  it("a mistyped flag: one line saying what was meant, then usage, exit 2, no stack", async () => {
    const end = await run("--onyl", "burst");
    expect(end.code).toBe(2);
    expect(end.err).toMatch(/^bench: unknown flag --onyl; did you mean --only\?\n/);
    expect(end.err).not.toMatch(/\n\s+at /);
    expect(end.out).toBe("");
  });
});
