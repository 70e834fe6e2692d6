/** Imports a probe plugin's source needs for DURABLE_POST. */
export const PROBE_IMPORTS = `import { open, unlink } from "node:fs/promises";
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
