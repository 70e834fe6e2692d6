import { parse } from "jsonc-parser";
import { describe, expect, it } from "vitest";
import { mergeIntoJsonc, parseJsonc, removeArrayItem } from "../../scripts/cli/jsonc-edit.ts";

describe("removeArrayItem", () => {
  it.each([
    ["the only item", '{"plugin": ["x"]}', 0, '{"plugin": []}'],
    ["the last of one line", '{"plugin": ["a", "x"]}', 1, '{"plugin": ["a"]}'],
    ["the first of one line", '{"plugin": ["x", "a"]}', 0, '{"plugin": ["a"]}'],
    [
      "the last line, keeping the comment of the line before",
      '{\n  "plugin": [\n    "a", // keep\n    "x" // drop\n  ]\n}',
      1,
      '{\n  "plugin": [\n    "a" // keep\n  ]\n}',
    ],
    [
      "a middle tuple, ignoring commas inside comments",
      '{\n  "plugin": [\n    "a", // keep, yes\n    ["x", {"k": 1}], // drop\n    "b" // b\n  ]\n}',
      1,
      '{\n  "plugin": [\n    "a", // keep, yes\n    "b" // b\n  ]\n}',
    ],
    [
      "the only line, keeping a comment above it",
      '{"plugin": [\n  // c\n  "x" // x\n]}',
      0,
      '{"plugin": [\n  // c\n]}',
    ],
    [
      "a CRLF line",
      '{\r\n "plugin": [\r\n  "a",\r\n  "x"\r\n ]\r\n}',
      1,
      '{\r\n "plugin": [\r\n  "a"\r\n ]\r\n}',
    ],
  ])("removes %s", (_, text, index, expected) => {
    expect(removeArrayItem(text, ["plugin"], index)).toBe(expected);
  });

  it("leaves the text alone when there is no such item", () => {
    expect(removeArrayItem('{"plugin": []}', ["plugin"], 0)).toBe('{"plugin": []}');
  });
});

describe("mergeIntoJsonc", () => {
  it("merges objects key by key, replaces other values, and keeps comments", () => {
    const text = '// head\n{\n  // target\n  "target": { "url": "a", "token": "t" },\n  "list": [1, 2]\n}\n';
    const merged = mergeIntoJsonc(text, { target: { url: "b", kind: "webhook" }, list: [3], added: true });
    expect(parse(merged)).toEqual({
      target: { url: "b", token: "t", kind: "webhook" },
      list: [3],
      added: true,
    });
    expect(merged).toContain("// head");
    expect(merged).toContain("// target");
  });
});

describe("parseJsonc", () => {
  it("accepts comments and trailing commas and rejects broken syntax with CONFIG_PARSE", () => {
    expect(parseJsonc("f", '{ "a": [1,], // c\n }')).toBeDefined();
    expect(() => parseJsonc("f", '{ "a": ')).toThrow(expect.objectContaining({ code: "CONFIG_PARSE" }));
  });
});
