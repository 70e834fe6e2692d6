import { execFile, execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_OPENCODE_BIN } from "../../scripts/dev/opencode-server.ts";

/**
 * The package as a user gets it: `npm pack`, installed from the tarball into a scratch prefix
 * offline (it has no dependencies, so npm needs nothing from a registry), then used from there
 * only: the library imported and type-checked, every command run.
 */

const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");

let tmp: string;
let prefix: string;
let installed: string;
let bin: string;
let packed: { filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> };
let installOutput: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-package-"));
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "pipe" });
  // --ignore-scripts: the build above is the one under test (pack would run `prepack` again).
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], {
    cwd: root,
  });
  packed = JSON.parse(stdout)[0];
  prefix = path.join(tmp, "prefix");
  await mkdir(prefix);
  await writeFile(
    path.join(prefix, "package.json"),
    `${JSON.stringify({ name: "consumer", type: "module" })}\n`,
  );
  const install = await run(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", path.join(tmp, packed.filename)],
    { cwd: prefix, env: { ...process.env, npm_config_cache: path.join(tmp, "npm-cache") } },
  );
  installOutput = `${install.stdout}${install.stderr}`;
  installed = path.join(prefix, "node_modules", "opencode-callback-relay");
  bin = path.join(prefix, "node_modules", ".bin", "opencode-callback-relay");
}, 180_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("the packed package", { timeout: 120_000 }, () => {
  it("installs offline with nothing but itself, and without engine warnings", async () => {
    const modules = (await readdir(path.join(prefix, "node_modules"))).filter(
      (name) => !name.startsWith("."),
    );
    expect(modules).toEqual(["opencode-callback-relay"]);
    expect(installOutput).not.toContain("EBADENGINE");
    // npm 11 warns about every package with install scripts (`prepare` counts): there are none.
    expect(installOutput).not.toContain("install-scripts");
    const manifest = JSON.parse(await readFile(path.join(installed, "package.json"), "utf8"));
    expect(manifest.dependencies ?? {}).toEqual({});
  });

  it("ships what works installed, and not the demo (it needs the repository's dev harness)", () => {
    const files = packed.files.map((file) => file.path);
    expect(files).toContain("dist/index.js");
    expect(files).toContain("dist/types/relay/index.d.ts");
    expect(files).toContain("dist/cli.js");
    expect(files).toContain("dist/opencode-callback-relay.js");
    expect(files).not.toContain("dist/demo.js");
    expect(
      files.filter((file) => file.endsWith(".map") || (file.endsWith(".ts") && !file.endsWith(".d.ts"))),
    ).toEqual([]);
    // The README states these; keep them honest (tarball ≈ 0.5 MB, unpacked ≈ 2 MB).
    expect(packed.size).toBeLessThan(1_000_000);
    expect(packed.unpackedSize).toBeLessThan(4_000_000);
  });

  it("is importable by name from Node, and builds and reads titles", async () => {
    const script = `
      import { buildTitle, parseTitle, verifyWebhook, signWebhook, ERROR_CODES, RelayError } from "opencode-callback-relay";
      const title = buildTitle("Fix login", { runId: "run 42", callbackSession: "agent:main:main" });
      const parsed = parseTitle(title);
      let code = null;
      try { parseTitle("runId=a runId=b"); } catch (e) { code = e instanceof RelayError ? e.code : "not a RelayError"; }
      console.log(JSON.stringify({ title, tags: parsed.tags, code, known: "TITLE_DUPLICATE_KEY" in ERROR_CODES, verify: typeof verifyWebhook, sign: typeof signWebhook }));
    `;
    await writeFile(path.join(prefix, "use.mjs"), script);
    const { stdout } = await run(process.execPath, ["use.mjs"], { cwd: prefix });
    expect(JSON.parse(stdout)).toEqual({
      title: "Fix login runId=run%2042 callbackSession=agent:main:main",
      tags: { runId: "run 42", callbackSession: "agent:main:main" },
      code: "TITLE_DUPLICATE_KEY",
      known: true,
      verify: "function",
      sign: "function",
    });
  });

  it("is importable by name from Bun (the Bun inside OpenCode's binary, BUN_BE_BUN=1)", async () => {
    const script = `
      import { buildTitle, parseTitle } from "opencode-callback-relay";
      const title = buildTitle("Fix", { runId: "run 1", callbackSession: "agent:main:main" });
      console.log(JSON.stringify({ bun: typeof Bun === "object", tags: parseTitle(title).tags }));
    `;
    await writeFile(path.join(prefix, "use-bun.mjs"), script);
    const { stdout } = await run(DEFAULT_OPENCODE_BIN, ["run", "use-bun.mjs"], {
      cwd: prefix,
      env: { ...process.env, BUN_BE_BUN: "1" },
    });
    expect(JSON.parse(stdout)).toEqual({
      bun: true,
      tags: { runId: "run 1", callbackSession: "agent:main:main" },
    });
  });

  it("type-checks a TypeScript consumer against its declarations, strictly and without skipLibCheck", async () => {
    const consumer = `
      import { buildTitle, parseTitle, verifyWebhook, ERROR_CODES, RelayError, configSchema } from "opencode-callback-relay";
      import type { Callback, ErrorCode, ParsedTitle, RelayConfig, TitleTags, WebhookVerdict } from "opencode-callback-relay";

      const tags: TitleTags = { runId: "run-1", callbackSession: "agent:main:main" };
      const title: string = buildTitle("Fix", tags);
      const parsed: ParsedTitle = parseTitle(title);
      const runId: string | undefined = parsed.tags.runId;
      const codes: ErrorCode[] = Object.keys(ERROR_CODES) as ErrorCode[];
      const verdict: WebhookVerdict = verifyWebhook(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], {}, "{}");
      const config: RelayConfig = configSchema.parse({ target: { url: "http://127.0.0.1:18789/hooks" } });
      const prefixes: string[] = config.callbackSessionPrefixes;
      const outcome = (callback: Callback): string | null => callback.routing.outcome;
      function describe(error: unknown): ErrorCode | null {
        return error instanceof RelayError ? error.code : null;
      }
      // The types are real, not any: these must be errors.
      // @ts-expect-error runId is a string
      buildTitle("Fix", { runId: 1 });
      // @ts-expect-error not an error code
      const wrong: ErrorCode = "NOT_A_CODE";
      // @ts-expect-error no such key in the configuration
      config.nope;
      export { codes, describe, outcome, prefixes, runId, verdict, wrong };
    `;
    await writeFile(path.join(prefix, "consumer.ts"), consumer);
    await writeFile(
      path.join(prefix, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          // A Node consumer has @types/node (Buffer is in verifyWebhook's and signWebhook's signatures).
          typeRoots: [path.join(root, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["consumer.ts"],
      }),
    );
    const result = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: prefix }).catch(
      (error: { stdout: string; code: number }) => ({ stdout: error.stdout, code: error.code }),
    );
    expect(result.stdout).toBe("");
  });

  it("runs every command's --help, and title, from the installed bin", async () => {
    const { stdout: usage } = await run(bin, ["--help"]);
    const commands = [...usage.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)]
      .map((match) => match[1] ?? "")
      .filter((name) => name !== "opencode-callback-relay");
    expect(commands).toEqual(
      expect.arrayContaining(["install", "uninstall", "doctor", "audit", "receive", "title", "dispatch"]),
    );
    for (const command of commands) {
      // Every command loads from the installed package and answers --help with its own usage.
      const result = await run(bin, [command, "--help"]).then(
        ({ stdout }) => ({ code: 0, output: stdout }),
        (error: { code: number; stderr: string }) => ({ code: error.code, output: error.stderr }),
      );
      expect(result.code, `${command}: ${result.output}`).toBe(0);
      expect(result.output.length, command).toBeGreaterThan(0);
    }
    for (const command of ["title", "dispatch"]) {
      expect((await run(bin, [command, "--help"])).stdout).toContain(`opencode-callback-relay ${command}`);
    }
    const { stdout: title } = await run(
      bin,
      ["title", "--run-id", "r 1", "--callback-session", "agent:main:main"],
      {
        env: { ...process.env, XDG_CONFIG_HOME: path.join(tmp, "no-config") },
      },
    );
    expect(title).toBe("runId=r%201 callbackSession=agent:main:main\n");
  });
});
