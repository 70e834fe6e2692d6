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
