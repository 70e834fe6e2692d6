import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { bundleForChild } from "../../helpers/bundle-for-child.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../../helpers/recording-receiver.ts";

/**
 * A Node program that uses the relay ends when its work is done, and not before: nothing the relay
 * starts (the flusher's thread, timers, sockets) keeps the process alive once the relay is closed,
 * and a callback's write still running on the flusher's thread does.
 */

let dir: string | undefined;
let receiver: RecordingReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = receiver = undefined;
});

/** Run the child to its end: what it printed, and how it ended (`hung`: stopped after 60 s). */
async function runChild(entry: string, env: Record<string, string>) {
  if (!dir) throw new Error("set up first");
  const child = await bundleForChild(entry, dir);
  const proc = spawn(process.execPath, [child], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  proc.stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
  });
  // A process that does not end is the failure: stop it (by pid) so the suite goes on, and say so.
  const ended = await new Promise<{ code: number | null; hung: boolean }>((resolve) => {
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      if (proc.pid !== undefined) process.kill(proc.pid, "SIGKILL");
    }, 60_000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, hung });
    });
  });
  return { out, ...ended, err: err.slice(-500) };
}

it("a program that prepared, used and closed a relay exits on its own", async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-exit-"));
  receiver = await startRecordingReceiver();
  const ended = await runChild("test/helpers/exit-child.ts", {
    EXIT_CHILD_INPUT: JSON.stringify({ url: receiver.url, dir }),
  });
  expect(ended).toEqual({ out: "closed\n", code: 0, hung: false, err: "" });
  expect(receiver.requests).toHaveLength(1);
}, 90_000);

it("a program waiting only for a job on the flusher's thread does not end before it is done", async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-exit-"));
  const ended = await runChild("test/helpers/flusher-wait-child.ts", {
    FLUSHER_CHILD_INPUT: JSON.stringify({ dir }),
  });
  expect(ended).toEqual({ out: "done\n", code: 0, hung: false, err: "" });
  expect(readFileSync(join(dir, "batch.json"), "utf8")).toBe('{"v":1}\n');
}, 90_000);
