import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { bundleForChild } from "../../helpers/bundle-for-child.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../../helpers/recording-receiver.ts";
import { runNodeChild } from "../../helpers/run-node-child.ts";

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

/** Bundle `entry` and run it to its end: what it printed, how it ended (`hung`: stopped after 60 s). */
async function runChild(entry: string, env: Record<string, string>) {
  if (!dir) throw new Error("set up first");
  const { out, err, code, hung } = await runNodeChild(await bundleForChild(entry, dir), env);
  return { out, code, hung, err: err.slice(-500) };
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
