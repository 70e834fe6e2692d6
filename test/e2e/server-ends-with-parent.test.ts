import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { bundleForChild } from "../helpers/bundle-for-child.ts";
import { processRunning } from "../helpers/process-running.ts";

/**
 * The dev harness's `opencode serve` (scripts/dev/opencode-server.ts: tests, the bench, the demo)
 * runs in a process group of its own, so no signal meant for its starter reaches it. It must still
 * end when its starter does, however that ends: a SIGKILL, an out-of-memory kill, a crash.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it("an opencode serve started by a process that is SIGKILLed ends with it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ocr-parent-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const script = await bundleForChild("test/helpers/server-parent-child.ts", dir);
  const parent = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
  });
  let out = "";
  parent.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  const { pid, root } = await waitFor(
    "the server's pid",
    () => {
      const line = out.split("\n")[0];
      return out.includes("\n") && line ? (JSON.parse(line) as { pid: number; root: string }) : undefined;
    },
    60_000,
  );
  cleanups.push(async () => {
    if (processRunning(pid)) process.kill(-pid, "SIGKILL"); // its group: the test failed, leave nothing
    await rm(root, { recursive: true, force: true });
  });
  expect(processRunning(pid)).toBe(true);

  parent.kill("SIGKILL");
  await waitFor("the server to end", () => (processRunning(pid) ? undefined : true), 30_000);
});
