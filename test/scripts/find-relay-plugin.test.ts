import { describe, expect, it } from "vitest";
import { findRelayPlugin } from "../../scripts/cli/find-relay-plugin.ts";

describe("findRelayPlugin", () => {
  it.each([
    ["file:///home/u/.config/opencode/plugins/opencode-callback-relay.js"],
    ["opencode-callback-relay"],
    ["opencode-callback-relay@0.1.0"],
    ["@acme/opencode-callback-relay"],
    ["/srv/tools/node_modules/opencode-callback-relay/dist/opencode-callback-relay.js"],
  ])("finds %s, plain or as a [spec, options] tuple", (spec) => {
    expect(findRelayPlugin(["other-plugin", spec])).toBe(spec);
    expect(findRelayPlugin([[spec, { target: {} }]])).toBe(spec);
  });

  it.each([
    [["file:///x/plugins/probe.js", "opencode-callback-relay-fork.js", "my-opencode-callback-relay"]],
    [[]],
    [undefined],
    ["opencode-callback-relay"],
  ])("finds nothing in %j", (plugins) => {
    expect(findRelayPlugin(plugins)).toBeNull();
  });
});
