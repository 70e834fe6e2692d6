import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "jsonc-parser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../../relay/config/config-schema.ts";
import { install } from "../../scripts/cli/commands/install.ts";
import { STARTER_CONFIG } from "../../scripts/cli/starter-config.ts";
import { type CapturedIO, captureIO } from "../helpers/capture-io.ts";

let tmp: string;
let configDir: string;
let bundle: string;
let io: CapturedIO;

const pluginFile = () => path.join(configDir, "plugins", "opencode-callback-relay.js");
const configFile = () => path.join(configDir, "callback-relay.jsonc");

beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-install-"));
  configDir = path.join(tmp, "config");
  bundle = path.join(tmp, "fake-bundle.js");
  await writeFile(bundle, "export const CallbackRelay = async () => ({});\n// fake bundle ✓\n");
  io = captureIO(tmp, { OPENCODE_CALLBACK_RELAY_BUNDLE: bundle });
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Every file under `dir` with its bytes and mtime, to prove a run touched nothing. */
async function snapshot(dir: string): Promise<Record<string, { bytes: string; mtimeMs: number }>> {
  const result: Record<string, { bytes: string; mtimeMs: number }> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    result[file] = { bytes: await readFile(file, "base64"), mtimeMs: (await stat(file)).mtimeMs };
  }
  return result;
}

const jsonc = async (file: string): Promise<unknown> => parse(await readFile(file, "utf8"));

describe("install", () => {
  it("copies the bundle byte for byte and writes a starter config that the schema accepts", async () => {
    expect(await install(["--config-dir", configDir], io)).toBe(0);
    expect(await readFile(pluginFile())).toEqual(await readFile(bundle));
    expect(await readFile(configFile(), "utf8")).toBe(STARTER_CONFIG);
    const config = configSchema.parse(await jsonc(configFile()));
    expect(config.target).toMatchObject({
      kind: "openclaw-agent",
      url: "http://127.0.0.1:18789/hooks",
      token: "{env:OPENCLAW_HOOKS_TOKEN}",
    });
    expect(config.callbackSessionPrefixes).toEqual(["agent:main:"]);
  });

  it("changes nothing when run a second time", async () => {
    expect(await install(["--config-dir", configDir], io)).toBe(0);
    // Every file dated in the past: a rewrite, however soon, shows in its mtime.
    for (const file of Object.keys(await snapshot(configDir))) await utimes(file, 1_000_000, 1_000_000);
    const before = await snapshot(configDir);
    expect(await install(["--config-dir", configDir], io)).toBe(0);
    expect(await snapshot(configDir)).toEqual(before);
  });

  it("replaces an outdated bundle", async () => {
    expect(await install(["--config-dir", configDir], io)).toBe(0);
    await writeFile(bundle, "export const CallbackRelay = async () => ({}); // v2\n");
    expect(await install(["--config-dir", configDir], io)).toBe(0);
    expect(await readFile(pluginFile(), "utf8")).toContain("v2");
  });

  it("keeps an existing config without --force and overwrites it with --force", async () => {
    await mkdir(configDir, { recursive: true });
    const mine = '{ "target": { "url": "http://10.1.2.3:18789/hooks" } } // mine\n';
    await writeFile(configFile(), mine);
    expect(await install(["--config-dir", configDir], io)).toBe(0);
    expect(await readFile(configFile(), "utf8")).toBe(mine);
    expect(existsSync(pluginFile())).toBe(true);

    expect(await install(["--config-dir", configDir, "--force"], io)).toBe(0);
    expect(await readFile(configFile(), "utf8")).toBe(STARTER_CONFIG);
  });

  it("fails with exit 1 and writes nothing when the bundle has not been built", async () => {
    await rm(bundle);
    expect(await install(["--config-dir", configDir], io)).toBe(1);
    expect(io.err()).not.toBe("");
    expect(existsSync(configDir)).toBe(false);
  });

  it("writes nothing on --dry-run", async () => {
    expect(await install(["--config-dir", configDir, "--dry-run"], io)).toBe(0);
    expect(io.out()).not.toBe("");
    expect(existsSync(configDir)).toBe(false);
  });

  it("installs into <project>/.opencode with --project", async () => {
    const project = path.join(tmp, "project");
    await mkdir(project);
    expect(await install(["--project", "project"], io)).toBe(0);
    expect(existsSync(path.join(project, ".opencode", "plugins", "opencode-callback-relay.js"))).toBe(true);
    expect(existsSync(path.join(project, ".opencode", "callback-relay.jsonc"))).toBe(true);
  });

  it("defaults to $XDG_CONFIG_HOME/opencode", async () => {
    io = captureIO(tmp, { OPENCODE_CALLBACK_RELAY_BUNDLE: bundle, XDG_CONFIG_HOME: path.join(tmp, "xdg") });
    expect(await install([], io)).toBe(0);
    expect(existsSync(path.join(tmp, "xdg", "opencode", "plugins", "opencode-callback-relay.js"))).toBe(true);
  });
});

describe("install with the plugin also in an opencode.jsonc plugin array", () => {
  const opencodeJsonc = `{
  // my OpenCode settings
  "$schema": "https://opencode.ai/config.json",
  "plugin": [
    "some-other-plugin", // keep me
    [
      "./plugins/opencode-callback-relay.js",
      {
        "target": { "url": "http://10.0.0.5:18789/hooks", "kind": "openclaw-wake" },
        "callbackSessionPrefixes": ["agent:ops:"]
      }
    ]
  ],
  /* trailing block comment */
  "autoupdate": false
}
`;
  const opencodeFile = () => path.join(configDir, "opencode.jsonc");

  beforeEach(async () => {
    await mkdir(configDir, { recursive: true });
    await writeFile(opencodeFile(), opencodeJsonc);
  });

  it("refuses with exit 1 and touches nothing", async () => {
    expect(await install(["--config-dir", configDir], io)).toBe(1);
    expect(io.err()).not.toBe("");
    expect(await readFile(opencodeFile(), "utf8")).toBe(opencodeJsonc);
    expect(await readdir(configDir)).toEqual(["opencode.jsonc"]);
  });

  it("with --repair moves the tuple's options into callback-relay.jsonc and removes the entry, comments kept", async () => {
    expect(await install(["--config-dir", configDir, "--repair"], io)).toBe(0);

    const repaired = await readFile(opencodeFile(), "utf8");
    expect(parse(repaired)).toEqual({
      $schema: "https://opencode.ai/config.json",
      plugin: ["some-other-plugin"],
      autoupdate: false,
    });
    for (const comment of ["// my OpenCode settings", "// keep me", "/* trailing block comment */"]) {
      expect(repaired).toContain(comment);
    }

    const config = configSchema.parse(await jsonc(configFile()));
    expect(config.target).toMatchObject({
      url: "http://10.0.0.5:18789/hooks",
      kind: "openclaw-wake",
      token: "{env:OPENCLAW_HOOKS_TOKEN}", // from the starter: the tuple did not set it
    });
    expect(config.callbackSessionPrefixes).toEqual(["agent:ops:"]);
    expect(await readFile(configFile(), "utf8")).toContain("//"); // the starter's comments survive
    expect(await readFile(pluginFile())).toEqual(await readFile(bundle));

    const before = await snapshot(configDir);
    expect(await install(["--config-dir", configDir], io)).toBe(0);
    expect(await snapshot(configDir)).toEqual(before);
  });

  it("with --repair sets the tuple's options over an existing config's, keeping its other keys", async () => {
    const existing = `{
  // mine
  "target": { "url": "http://127.0.0.1:1/hooks", "token": "{env:MY_TOKEN}" },
  "summaryMaxChars": 100
}
`;
    await writeFile(configFile(), existing);
    expect(await install(["--config-dir", configDir, "--repair"], io)).toBe(0);
    const text = await readFile(configFile(), "utf8");
    expect(text).toContain("// mine");
    expect(parse(text)).toEqual({
      target: { url: "http://10.0.0.5:18789/hooks", kind: "openclaw-wake", token: "{env:MY_TOKEN}" },
      summaryMaxChars: 100,
      callbackSessionPrefixes: ["agent:ops:"],
    });
  });

  it("with --force removes a plain string entry in opencode.json", async () => {
    await rm(opencodeFile());
    const opencodeJson = path.join(configDir, "opencode.json");
    await writeFile(opencodeJson, '{"plugin": ["opencode-callback-relay", "other"]}\n');
    expect(await install(["--config-dir", configDir, "--force"], io)).toBe(0);
    expect(parse(await readFile(opencodeJson, "utf8"))).toEqual({ plugin: ["other"] });
    expect(await readFile(configFile(), "utf8")).toBe(STARTER_CONFIG);
  });

  it("looks at the global config dir's older config.json too", async () => {
    await rm(opencodeFile());
    await writeFile(path.join(configDir, "config.json"), '{"plugin": ["opencode-callback-relay"]}\n');
    expect(await install(["--config-dir", configDir], io)).toBe(1);
    expect(existsSync(pluginFile())).toBe(false);
  });

  it("looks at the project root's opencode.json for --project", async () => {
    const project = path.join(tmp, "project");
    await mkdir(project);
    await writeFile(
      path.join(project, "opencode.json"),
      '{"plugin": ["./.opencode/plugins/opencode-callback-relay.js"]}\n',
    );
    expect(await install(["--project", project], io)).toBe(1);
    expect(existsSync(path.join(project, ".opencode"))).toBe(false);
  });

  it("rejects a broken opencode.jsonc with CONFIG_PARSE and touches nothing", async () => {
    await writeFile(opencodeFile(), '{ "plugin": [ "x", }\n');
    await expect(install(["--config-dir", configDir, "--repair"], io)).rejects.toMatchObject({
      code: "CONFIG_PARSE",
    });
    expect(await readdir(configDir)).toEqual(["opencode.jsonc"]);
  });
});
