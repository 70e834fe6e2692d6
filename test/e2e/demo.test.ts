import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it, onTestFinished } from "vitest";
import { processRunning } from "../helpers/process-running.ts";

// Built from the current sources by test/build-setup.ts before any test runs.
const demo = fileURLToPath(new URL("../../dist/demo.js", import.meta.url));

it("`npm run demo` (dist/demo.js) shows one audited callback to the caller session and exits 0", async () => {
  const child = spawn(process.execPath, [demo], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 100_000);
    child.on("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  expect(code, out).toBe(0);
  expect(out).toContain("sessionKey=agent:main:main");
  expect(out).toMatch(/audit verify: ok \(\d+ records\)/);
  expect(out).toContain("Demo complete");
});

it("Ctrl-C mid-demo stops its opencode serve, removes its temp dir and exits 130", async () => {
  const child = spawn(process.execPath, [demo], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  const exited = new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 100_000);
    child.on("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  // Interrupted as soon as the server is up (the line naming its pid), while the turn runs.
  const started = new Promise<{ pid: number; root: string }>((resolve) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const pid = /opencode {5}http:\/\/\S+ \(pid (\d+)/.exec(out)?.[1];
      const audit = /audit log {4}(\S+)/.exec(out)?.[1];
      if (pid === undefined || audit === undefined) return;
      child.stdout.off("data", onData);
      resolve({ pid: Number(pid), root: dirname(dirname(audit)) });
    };
    child.stdout.on("data", onData);
  });
  child.stderr.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const { pid, root } = await Promise.race([
    started,
    exited.then((code) => {
      throw new Error(`the demo ended (${code}) before its server was up: ${out}`);
    }),
  ]);
  onTestFinished(() => {
    if (processRunning(pid)) process.kill(-pid, "SIGKILL"); // the test failed: leave nothing
  });
  expect(processRunning(pid)).toBe(true);
  child.kill("SIGINT");

  expect(await exited, out).toBe(130);
  expect(out).toContain("interrupted: stopping opencode serve");
  expect(processRunning(pid)).toBe(false);
  expect(existsSync(root)).toBe(false);
});
