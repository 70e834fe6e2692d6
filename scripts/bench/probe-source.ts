import type { TimedRequest, TimingReceiver } from "./timing-receiver.ts";

/** Imports a probe plugin's source needs for DURABLE_POST. */
export const PROBE_IMPORTS = `import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";`;

/**
 * Probe plugin source, a statement: write and fsync 1 KB in OpenCode's process, then
 * `post("-durable")`, the floor for a plugin that makes its callback durable before sending it.
 * Needs PROBE_IMPORTS, and `post`, `id` and `t` (the idle's stamp) in scope.
 */
export const DURABLE_POST = `(async () => {
      const file = join(tmpdir(), "bench-probe-" + id + "-" + t);
      const handle = await open(file, "w");
      await handle.write("x".repeat(1024));
      await handle.sync();
      await handle.close();
      post("-durable");
      await unlink(file);
    })().catch(() => post("-durable"));`;

/**
 * Probe plugin source, a statement: the same write made with synchronous calls, then
 * `post("-durable-sync")`: the floor for a plugin whose durable write does not queue behind the
 * host's asynchronous file work (what the relay's staged write and claim do, durable-file.ts).
 * Runs at once, in the hook: it holds the event loop for the write, which delays the plugin's
 * callback of the same idle, so the probes run it every other idle and the benches leave those
 * turns out of the callback rows. Same scope as DURABLE_POST.
 */
export const DURABLE_SYNC_POST = `try {
      const file = join(tmpdir(), "bench-probe-sync-" + id + "-" + t);
      const fd = openSync(file, "w");
      writeSync(fd, "x".repeat(1024));
      fsyncSync(fd);
      closeSync(fd);
      post("-durable-sync");
      unlinkSync(file);
    } catch {
      post("-durable-sync");
    }`;

/** What a probe plugin and the plugin sent for one idle, stamped from the probe's `/probe`. */
export interface ProbedIdle {
  /** The probe's stamp of the idle (epoch ms), and whether it timed DURABLE_SYNC_POST. */
  stamp: { t: number; sync: boolean };
  /** ms from the stamp to the probe request at `path` (e.g. `/probe-durable`); undefined if none. */
  after(path: string): number | undefined;
  /** ms from the stamp to the plugin's callback (the one request not under `/probe`). */
  callbackMs: number;
}

/**
 * Take one idle's requests from `receiver`: `paths` (the probes the plugin always sends, `/probe`
 * among them), `/probe-durable-sync` when the stamp says it was timed, and the callback. Throws
 * when one of them is missing.
 */
export async function takeProbedIdle(
  receiver: TimingReceiver,
  paths: readonly string[],
  timeoutMs: number,
): Promise<ProbedIdle> {
  const got: TimedRequest[] = [];
  const at = (path: string) => got.find((r) => r.path === path);
  while (at("/probe") === undefined) got.push(await receiver.next(timeoutMs));
  const stamp = JSON.parse(at("/probe")?.body ?? "{}") as { t: number; sync: boolean };
  const expected = stamp.sync ? [...paths, "/probe-durable-sync"] : paths;
  while (got.length < expected.length + 1) got.push(await receiver.next(timeoutMs));
  const callback = got.find((r) => !r.path.startsWith("/probe"));
  if (callback === undefined || expected.some((path) => at(path) === undefined))
    throw new Error(`expected ${expected.join(", ")} and a callback, got ${got.map((r) => r.path)}`);
  return {
    stamp,
    after: (path) => {
      const request = at(path);
      return request === undefined ? undefined : request.epoch - stamp.t;
    },
    callbackMs: callback.epoch - stamp.t,
  };
}
