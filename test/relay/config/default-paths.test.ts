import os from "node:os";
import { describe, expect, it } from "vitest";
import {
  CONFIG_FILE_NAME,
  defaultAuditPath,
  defaultConfigDir,
  defaultStateDir,
  resolveUserPath,
} from "../../../relay/config/default-paths.ts";

describe("default paths", () => {
  it("follows the XDG variables when they are absolute", () => {
    const env = { HOME: "/h", XDG_CONFIG_HOME: "/c", XDG_DATA_HOME: "/d", XDG_STATE_HOME: "/s" };
    expect(defaultConfigDir(env)).toBe("/c/opencode");
    expect(defaultAuditPath(env)).toBe("/d/opencode-callback-relay/audit.jsonl");
    expect(defaultStateDir(env)).toBe("/s/opencode-callback-relay");
    expect(CONFIG_FILE_NAME).toBe("callback-relay.jsonc");
  });

  it("falls back to HOME, ignoring empty or relative XDG values", () => {
    const env = { HOME: "/h", XDG_CONFIG_HOME: "", XDG_DATA_HOME: "rel/data" };
    expect(defaultConfigDir(env)).toBe("/h/.config/opencode");
    expect(defaultAuditPath(env)).toBe("/h/.local/share/opencode-callback-relay/audit.jsonl");
    expect(defaultStateDir(env)).toBe("/h/.local/state/opencode-callback-relay");
  });

  it("falls back to the OS home directory without HOME", () => {
    expect(defaultConfigDir({})).toBe(`${os.homedir()}/.config/opencode`);
  });

  it("expands ~ and resolves relative paths against a base directory", () => {
    const env = { HOME: "/h" };
    expect(resolveUserPath("~", "/b", env)).toBe("/h");
    expect(resolveUserPath("~/x/", "/b", env)).toBe("/h/x");
    expect(resolveUserPath("x/../y", "/b", env)).toBe("/b/y");
    expect(resolveUserPath("/abs", "/b", env)).toBe("/abs");
    expect(resolveUserPath("~other/x", "/b", env)).toBe("/b/~other/x");
  });
});
