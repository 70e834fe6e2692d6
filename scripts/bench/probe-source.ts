import { readFileSync } from "node:fs";
import { DEFAULT_BUNDLE } from "../dev/opencode-server.ts";
import type { TimedRequest, TimingReceiver } from "./timing-receiver.ts";

/** Imports a probe plugin's source needs for DURABLE_POST. */
export const PROBE_IMPORTS = `import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";`;

/**
 * Probe plugin source, an expression of `event`: the plugin's terminal point, the first
 * `session.status` idle after busy (a `session.idle` follows it on the same stack). The plugin
 * stages and sends a settled run on that event's own stack, so a probe stamping the later
 * `session.idle` would start its intervals after the plugin's work.
 */
export const IS_IDLE_STATUS = `(event.type === "session.status" && event.properties && event.properties.status && event.properties.status.type === "idle")`;

/**
 * Probe plugin source, a statement: \`post(path)\`, a bare \`fetch\` POST of the idle's stamp to the
 * receiver. Needs \`url\`, \`id\`, \`t\` (the stamp) and \`sends\` (the suffixes of the other probe
 * paths it will POST for this idle, e.g. \`["-durable"]\`: see takeProbedIdle) in scope.
 */
export const PROBE_POST = `const post = (path) => fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sessionID: id, t, sends }) }).catch(() => {});`;

/**
 * The plugin and a probe plugin (\`probe\`: a module whose one export is a plugin) as a bench
 * installs them: \`startOpencodeServer({ bundlePath: null, extraPlugins: PLUGIN_FILES(probe) })\`.
 * One plugin file under the bundle's usual name (so at the bundle's place in OpenCode's plugin
 * order) runs both: the probe's hook, then the real bundle's, for every event. The probe thus
 * stamps every idle before the plugin has it, whatever order OpenCode gives the plugin files (it
 * varies with the file system's directory order: here it put a probe file after the plugin), and
 * its bare POST is the fastest any plugin at that place gets a request out. The bundle and the
 * probe go under names OpenCode does not scan (\`.mjs\`).
 */
export function PLUGIN_FILES(probe: string): Record<string, string> {
  return {
    "opencode-callback-relay.js": `import { CallbackRelayPlugin as plugin } from "./callback-relay-bundle.mjs";
import * as probeModule from "./bench-probe.mjs";
export const CallbackRelayPlugin = async (input, options) => {
  const probe = await Object.values(probeModule)[0](input, options);
  const hooks = await plugin(input, options);
  const hook = hooks.event;
  return { ...hooks, event: (arg) => {
    probe.event(arg).catch(() => {});
    return hook(arg);
  } };
};
`,
    "callback-relay-bundle.mjs": readFileSync(DEFAULT_BUNDLE, "utf8"),
    "bench-probe.mjs": probe,
  };
}

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
  /** The probe's stamp of the idle (epoch ms), and the other probe paths it sent for it. */
  stamp: { t: number; sends: string[] };
  /** Whether the probe sent `/probe${suffix}` for this idle. */
  sent(suffix: string): boolean;
  /** ms from the stamp to the probe request at `path` (e.g. `/probe-durable`); undefined if none. */
  after(path: string): number | undefined;
  /** ms from the stamp to the plugin's callback (the one request not under `/probe`). */
  callbackMs: number;
}

/**
 * Take one idle's requests from `receiver`: the probe's `/probe`, every other probe path its stamp
 * says it sent, and the callback. Throws when one of them is missing.
 */
export async function takeProbedIdle(receiver: TimingReceiver, timeoutMs: number): Promise<ProbedIdle> {
  const got: TimedRequest[] = [];
  const at = (path: string) => got.find((r) => r.path === path);
  while (at("/probe") === undefined) got.push(await receiver.next(timeoutMs));
  const stamp = JSON.parse(at("/probe")?.body ?? "{}") as { t: number; sends: string[] };
  const expected = ["/probe", ...stamp.sends.map((suffix) => `/probe${suffix}`)];
  while (got.length < expected.length + 1) got.push(await receiver.next(timeoutMs));
  const callback = got.find((r) => !r.path.startsWith("/probe"));
  if (callback === undefined || expected.some((path) => at(path) === undefined))
    throw new Error(`expected ${expected.join(", ")} and a callback, got ${got.map((r) => r.path)}`);
  return {
    stamp,
    sent: (suffix) => stamp.sends.includes(suffix),
    after: (path) => {
      const request = at(path);
      return request === undefined ? undefined : request.epoch - stamp.t;
    },
    callbackMs: callback.epoch - stamp.t,
  };
}
