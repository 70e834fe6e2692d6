import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

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
