import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Builds `dist/` (`node scripts/build.mjs`) once per vitest run, before any test file: the CLI
 * tests run `dist/cli.js`, the demo test `dist/demo.js` and the end-to-end suite installs
 * `dist/opencode-callback-relay.js`, and each must test the sources as they are now, never a
 * stale or missing build. A build error fails the run here, loudly, instead of skipping tests.
 * Both projects register this file; the flag on globalThis keeps it to one build per process.
 */

const BUILT = Symbol.for("opencode-callback-relay.test-build");
const registry = globalThis as { [BUILT]?: true };
const repoRoot = fileURLToPath(new URL("..", import.meta.url));

export default function setup(): void {
  if (registry[BUILT]) return;
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: repoRoot, stdio: "inherit" });
  registry[BUILT] = true;
}
