import { describe, expect, it } from "vitest";
import { OPENCODE_ENVIRONMENT, substituteEnv } from "../../../relay/config/substitute-env.ts";
import { RelayError } from "../../../relay/errors/errors.ts";

describe("substituteEnv", () => {
  it("replaces references in string values only, leaving keys and other types alone", () => {
    const tree = { "{env:A}": "{env:A}-{env:B}", list: ["{env:B}", 1, true, null], nested: { x: "{env:A}" } };
    expect(substituteEnv(tree, { A: "a", B: "b" }, "f.jsonc")).toEqual({
      value: { "{env:A}": "a-b", list: ["b", 1, true, null], nested: { x: "a" } },
      secrets: ["a", "b"],
    });
  });

  it("inserts values verbatim, quotes and braces included", () => {
    const value = `"}{env:A}\\`;
    expect(substituteEnv({ t: "{env:S}" }, { S: value, A: "no" }, "f").value).toEqual({ t: value });
  });

  it("treats an empty variable as set but keeps it out of the secrets", () => {
    expect(substituteEnv({ t: "x{env:E}" }, { E: "" }, "f")).toEqual({ value: { t: "x" }, secrets: [] });
  });

  it("names the key path and the variable when one is unset", () => {
    try {
      substituteEnv({ a: [{ b: "{env:MISSING}" }] }, {}, "f.jsonc");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RelayError);
      expect((error as RelayError).code).toBe("CONFIG_ENV_MISSING");
      expect((error as RelayError).details).toEqual({
        file: "f.jsonc",
        key: "a[0].b",
        variable: "MISSING",
        environment: OPENCODE_ENVIRONMENT,
      });
    }
  });

  it("names the environment it was given, so the CLI does not blame OpenCode's", () => {
    try {
      substituteEnv({ t: "{env:MISSING}" }, {}, "f", "this shell");
      expect.unreachable();
    } catch (error) {
      expect((error as RelayError).details).toMatchObject({ variable: "MISSING", environment: "this shell" });
    }
  });
});
