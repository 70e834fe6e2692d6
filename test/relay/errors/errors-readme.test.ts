import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../../relay/errors/errors.ts";

/** The README's error-code table and ERROR_CODES say the same: every code, each with its kind. */
describe("the README's error-code table", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const table = readme.slice(readme.indexOf("## Error codes"));
  const rows = new Map(
    [...table.matchAll(/^\| `([A-Z][A-Z0-9_]+)` +\| (\w+) +\|/gm)].map((match) => [match[1], match[2]]),
  );

  it("lists every code with its kind, and no code that does not exist", () => {
    const expected = new Map(Object.entries(ERROR_CODES).map(([code, { kind }]) => [code, kind]));
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
  });
});
