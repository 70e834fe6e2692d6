import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { install } from "../../scripts/cli/commands/install.ts";
import { uninstall } from "../../scripts/cli/commands/uninstall.ts";
import { type CapturedIO, captureIO } from "../helpers/capture-io.ts";

let tmp: string;
let configDir: string;
let io: CapturedIO;

const pluginFile = () => path.join(configDir, "plugins", "opencode-callback-relay.js");
const configFile = () => path.join(configDir, "callback-relay.jsonc");

beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-uninstall-"));
  configDir = path.join(tmp, "config");
  const bundle = path.join(tmp, "fake-bundle.js");
  await writeFile(bundle, "export const CallbackRelay = async () => ({});\n");
  io = captureIO(tmp, { OPENCODE_CALLBACK_RELAY_BUNDLE: bundle });
  expect(await install(["--config-dir", configDir], io)).toBe(0);
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("uninstall", () => {
  it("removes the bundle and keeps the config", async () => {
    const config = await readFile(configFile(), "utf8");
    expect(await uninstall(["--config-dir", configDir], io)).toBe(0);
    expect(existsSync(pluginFile())).toBe(false);
    expect(await readFile(configFile(), "utf8")).toBe(config);
  });

  it("removes the config too with --purge", async () => {
    expect(await uninstall(["--config-dir", configDir, "--purge"], io)).toBe(0);
    expect(existsSync(pluginFile())).toBe(false);
    expect(existsSync(configFile())).toBe(false);
  });

  it("succeeds again when there is nothing left to remove", async () => {
    expect(await uninstall(["--config-dir", configDir, "--purge"], io)).toBe(0);
    expect(await uninstall(["--config-dir", configDir, "--purge"], io)).toBe(0);
    expect(await uninstall(["--config-dir", path.join(tmp, "never-installed")], io)).toBe(0);
    expect(existsSync(path.join(tmp, "never-installed"))).toBe(false);
  });

  it("leaves a plugin array registration alone", async () => {
    const opencodeJson = path.join(configDir, "opencode.json");
    const text = '{"plugin": [["./plugins/opencode-callback-relay.js", {"summaryMaxChars": 1}]]}\n';
    await writeFile(opencodeJson, text);
    expect(await uninstall(["--config-dir", configDir], io)).toBe(0);
    expect(await readFile(opencodeJson, "utf8")).toBe(text);
  });
});
