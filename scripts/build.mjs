// Bundles the plugin and the CLI with esbuild's API and explicit options.
// The plugin bundle's only export is the plugin: OpenCode calls every export as a plugin.
import { existsSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { buildTypes } from "./build-types.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * undici ships llhttp twice as base64 WASM (a SIMD build, tried first, and a plain one as the
 * fallback): 72 KB each. The plain build runs everywhere and SIMD only speeds up parsing large
 * responses, which callbacks never get, so the plugin carries the plain one only.
 */
const oneLlhttp = {
  name: "one-llhttp",
  setup(b) {
    b.onResolve({ filter: /llhttp_simd-wasm\.js$/ }, (args) => ({
      path: join(args.resolveDir, args.path.replace("llhttp_simd-wasm.js", "llhttp-wasm.js")),
    }));
  },
};

/** Shared options: one self-contained ESM file per entry, runnable by Node 20 and by OpenCode's Bun. */
const common = {
  absWorkingDir: root,
  bundle: true,
  format: "esm",
  platform: "node",
  target: ["node20"],
  // Prefer ESM entries: jsonc-parser's "main" is a UMD build whose require("./impl/…") calls
  // esbuild cannot follow, so the bundle would fail at import time (in Node and in OpenCode's Bun).
  mainFields: ["module", "main"],
  plugins: [oneLlhttp],
  legalComments: "none",
  logLevel: "warning",
  // Some bundled CommonJS (undici) calls require() on node builtins.
  banner: {
    js: "import { createRequire as __ocrCreateRequire } from 'node:module'; const require = __ocrCreateRequire(import.meta.url);",
  },
};

const entries = [
  { in: "plugin/index.ts", out: "dist/opencode-callback-relay.js", minify: true },
  { in: "scripts/cli/cli.ts", out: "dist/cli.js", minify: false, shebang: true },
  // The library (package.json "exports"): relay/'s public surface for orchestrators and receivers.
  { in: "relay/index.ts", out: "dist/index.js", minify: false },
  // The demo runs the repository's dev harness (the opencode binary is a dev dependency), so it is
  // built for `npm run demo` and not shipped (package.json "files").
  { in: "scripts/demo.ts", out: "dist/demo.js", minify: false },
];
// The benchmarks are built only when asked for (`npm run bench`): nobody installs them.
if (process.argv.includes("--bench"))
  entries.push({ in: "scripts/bench.ts", out: "dist/bench.js", minify: false });

for (const entry of entries) {
  if (!existsSync(new URL(entry.in, `file://${root}/`))) {
    console.error(`build: ${entry.in} is missing`);
    process.exitCode = 1;
    continue;
  }
  await build({
    ...common,
    entryPoints: [entry.in],
    outfile: entry.out,
    minify: entry.minify,
    metafile: false,
    banner: entry.shebang ? { js: `#!/usr/bin/env node\n${common.banner.js}` } : common.banner,
  });
  if (entry.shebang) await chmod(new URL(entry.out, `file://${root}/`), 0o755);
}
// The library's declarations, dist/types/ (skipped when relay/ has not changed since).
buildTypes(root);
