import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Bundle `entry` (a path from the repository root) from the sources under test into
 * `<outDir>/<name>.mjs`, runnable as its own process with `node` (a child a test can SIGKILL).
 * Returns the bundle's path.
 */
export async function bundleForChild(entry: string, outDir: string): Promise<string> {
  const name = entry.split("/").at(-1)?.replace(/\.ts$/, "") ?? "child";
  const outfile = join(outDir, `${name}.mjs`);
  await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: ["node20"],
    mainFields: ["module", "main"],
    logLevel: "error",
    // Bundled CommonJS dependencies call require() on node builtins.
    banner: {
      js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);",
    },
  });
  return outfile;
}
