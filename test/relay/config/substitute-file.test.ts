import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { substituteFiles } from "../../../relay/config/substitute-file.ts";
import { RelayError } from "../../../relay/errors/errors.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "substitute-file-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RelayError);
    return (error as RelayError).code;
  }
  throw new Error("expected a throw");
}

describe("substituteFiles", () => {
  it("inserts the trimmed content of a file relative to the config's folder, in string values only", () => {
    mkdirSync(path.join(dir, "secrets"));
    writeFileSync(path.join(dir, "secrets", "token"), "  tok-123\n");
    const tree = {
      "{file:secrets/token}": "Bearer {file:secrets/token}",
      n: 1,
      list: ["{file:./secrets/token}"],
    };
    expect(substituteFiles(tree, dir, {}, "f.jsonc")).toEqual({
      value: { "{file:secrets/token}": "Bearer tok-123", n: 1, list: ["tok-123"] },
      secrets: ["tok-123"],
    });
  });

  it("expands ~/ to HOME and takes absolute paths as they are", () => {
    const home = path.join(dir, "home");
    mkdirSync(home);
    writeFileSync(path.join(home, "a"), "from-home");
    writeFileSync(path.join(dir, "b"), "absolute");
    const tree = { a: "{file:~/a}", b: `{file:${path.join(dir, "b")}}` };
    expect(substituteFiles(tree, "/nonexistent", { HOME: home }, "f").value).toEqual({
      a: "from-home",
      b: "absolute",
    });
  });

  it("inserts content verbatim: quotes, braces and references in it stay text", () => {
    writeFileSync(path.join(dir, "odd"), `"}{env:X}{file:odd}\\`);
    expect(substituteFiles({ t: "{file:odd}" }, dir, {}, "f").value).toEqual({ t: `"}{env:X}{file:odd}\\` });
  });

  it("refuses a missing file with CONFIG_FILE_MISSING, naming the key and the path it looked at", () => {
    try {
      substituteFiles({ target: { token: "{file:nope}" } }, dir, {}, "f.jsonc");
      expect.unreachable();
    } catch (error) {
      expect((error as RelayError).code).toBe("CONFIG_FILE_MISSING");
      expect((error as RelayError).details).toMatchObject({
        key: "target.token",
        path: path.join(dir, "nope"),
      });
    }
  });

  it("refuses a file it cannot read with CONFIG_UNREADABLE", () => {
    mkdirSync(path.join(dir, "folder"));
    expect(codeOf(() => substituteFiles({ t: "{file:folder}" }, dir, {}, "f"))).toBe("CONFIG_UNREADABLE");
  });
});
