import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse } from "jsonc-parser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import packageJson from "../../package.json" with { type: "json" };
import { main } from "../../scripts/cli/cli.ts";
import { type CapturedIO, captureIO } from "../helpers/capture-io.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const builtCli = path.join(root, "dist", "cli.js");
const builtBundle = path.join(root, "dist", "opencode-callback-relay.js");

let tmp: string;
let io: CapturedIO;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-cli-"));
  const bundle = path.join(tmp, "fake-bundle.js");
  await writeFile(bundle, "export const CallbackRelay = async () => ({});\n");
  io = captureIO(tmp, { OPENCODE_CALLBACK_RELAY_BUNDLE: bundle });
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("main", () => {
  it("prints the package version for --version", async () => {
    expect(await main(["--version"], io)).toBe(0);
    expect(io.out().trim()).toBe(packageJson.version);
  });

  it("prints usage on stdout for --help and for help <command>", async () => {
    expect(await main(["--help"], io)).toBe(0);
    expect(io.out()).not.toBe("");
    expect(await main(["help", "install"], io)).toBe(0);
    expect(io.err()).toBe("");
  });

  it.each([[[]], [["frobnicate"]], [["toString"]], [["__proto__"]]])(
    "exits 2 with usage on stderr for %j",
    async (argv) => {
      expect(await main(argv, io)).toBe(2);
      expect(io.err()).not.toBe("");
      expect(io.out()).toBe("");
    },
  );

  it("suggests the command meant for a typo, and the flag meant for a misspelt flag", async () => {
    expect(await main(["doctr"], io)).toBe(2);
    expect(io.err()).toMatch(/did you mean this\?\n\s+opencode-callback-relay doctor\n/);
    const flag = captureIO(tmp, {});
    expect(await main(["audit", "--jsno"], flag)).toBe(2);
    expect(flag.err()).toContain("did you mean --json?");
    const sub = captureIO(tmp, {});
    expect(await main(["audit", "sohw", "run-1"], sub)).toBe(2);
    expect(sub.err()).toContain("did you mean show?");
  });

  it.each([
    ["install"],
    ["uninstall"],
    ["doctor"],
    ["audit"],
    ["receive"],
    ["audit", "show"],
    ["audit", "stats"],
    ["audit", "verify"],
    ["audit", "redeliver"],
  ])("prints help for %s with -h, --help and help …, exit 0", async (...command) => {
    const outputs: string[] = [];
    for (const argv of [
      [...command, "--help"],
      [...command, "-h"],
      ["help", ...command],
    ]) {
      const each = captureIO(tmp, {});
      expect(await main(argv, each)).toBe(0);
      expect(each.err()).toBe("");
      expect(each.out()).toMatch(new RegExp(`^usage: opencode-callback-relay ${command.join(" ")}\\b`));
      outputs.push(each.out());
    }
    expect(new Set(outputs).size).toBe(1);
  });

  it("says a missing {env:…} is missing from this shell, not from the OpenCode process", async () => {
    const dir = path.join(tmp, "config");
    await mkdir(dir);
    await writeFile(
      path.join(dir, "callback-relay.jsonc"),
      '{ "target": { "url": "http://127.0.0.1:1/hooks", "token": "{env:UNSET_TOKEN_VAR}" } }',
    );
    expect(await main(["audit", "--config-dir", dir], io)).toBe(1);
    expect(io.err()).toContain("CONFIG_ENV_MISSING");
    expect(io.err()).not.toContain("OpenCode process");
  });

  it("dispatches install and uninstall with their arguments", async () => {
    const dir = path.join(tmp, "config");
    expect(await main(["install", "--config-dir", dir], io)).toBe(0);
    expect(existsSync(path.join(dir, "plugins", "opencode-callback-relay.js"))).toBe(true);
    expect(await main(["uninstall", "--config-dir", dir, "--purge"], io)).toBe(0);
    expect(existsSync(path.join(dir, "plugins", "opencode-callback-relay.js"))).toBe(false);
    expect(existsSync(path.join(dir, "callback-relay.jsonc"))).toBe(false);
  });

  it("exits 2 for an unknown option or conflicting targets, writing nothing", async () => {
    expect(await main(["install", "--no-such-flag"], io)).toBe(2);
    expect(await main(["install", "--config-dir", "a", "--project", "b"], io)).toBe(2);
    expect(await main(["uninstall", "extra-positional"], io)).toBe(2);
    expect(io.err()).not.toBe("");
    expect(existsSync(path.join(tmp, "a"))).toBe(false);
    expect(existsSync(path.join(tmp, "b"))).toBe(false);
  });

  it("exits 1 with the error code on stderr for a RelayError", async () => {
    const dir = path.join(tmp, "config");
    await mkdir(dir);
    await writeFile(path.join(dir, "opencode.json"), "{ not json");
    expect(await main(["install", "--config-dir", dir], io)).toBe(1);
    expect(io.err()).toContain("CONFIG_PARSE");
  });

  it("exits 1 instead of throwing when a command fails unexpectedly", async () => {
    const failing = {
      ...io,
      stdout: () => {
        throw new Error("stdout closed");
      },
    };
    expect(await main(["--version"], failing)).toBe(1);
    expect(io.err()).not.toBe("");
  });
});

// The built bin: test/build-setup.ts builds dist/ from the current sources before any test runs.
describe("dist/cli.js", () => {
  const run = promisify(execFile);

  it("runs as the process entry through a symlink, as npm's bin link does", async () => {
    const link = path.join(tmp, "opencode-callback-relay");
    await symlink(builtCli, link);
    const { stdout } = await run(process.execPath, [link, "--version"]);
    expect(stdout.trim()).toBe(packageJson.version);
  });

  it("installs the bundle beside it and repairs a plugin array registration", async () => {
    const dir = path.join(tmp, "config");
    await mkdir(dir);
    const opencodeJsonc = path.join(dir, "opencode.jsonc");
    await writeFile(
      opencodeJsonc,
      '{\n  // c\n  "plugin": [["opencode-callback-relay", {"summaryMaxChars": 7}]]\n}\n',
    );
    // No OPENCODE_CALLBACK_RELAY_BUNDLE: the bin finds dist/opencode-callback-relay.js itself.
    const env = { PATH: process.env.PATH ?? "", HOME: tmp };
    await run(process.execPath, [builtCli, "install", "--config-dir", dir, "--repair"], { env });
    expect(await readFile(path.join(dir, "plugins", "opencode-callback-relay.js"))).toEqual(
      await readFile(builtBundle),
    );
    expect(parse(await readFile(opencodeJsonc, "utf8"))).toEqual({ plugin: [] });
    expect(parse(await readFile(path.join(dir, "callback-relay.jsonc"), "utf8"))).toMatchObject({
      summaryMaxChars: 7,
    });
  });

  it("exits 2 for an unknown command", async () => {
    await expect(run(process.execPath, [builtCli, "frobnicate"])).rejects.toMatchObject({ code: 2 });
  });
});
