import { describe, expect, it } from "vitest";
import { Json5Error, parseJson5 } from "../../scripts/cli/parse-json5.ts";

describe("parseJson5", () => {
  it("reads an openclaw.json as the gateway's docs write it: comments, unquoted keys, trailing commas", () => {
    const text = `// gateway
{
  gateway: { mode: "local", port: 18789, },
  /* hooks */
  hooks: {
    enabled: true,
    token: 'tok-\\'1\\'',
    allowRequestSessionKey: true,
    allowedSessionKeyPrefixes: ["hook:", 'agent:main:',],
  },
}
`;
    expect(JSON.parse(JSON.stringify(parseJson5(text)))).toEqual({
      gateway: { mode: "local", port: 18789 },
      hooks: {
        enabled: true,
        token: "tok-'1'",
        allowRequestSessionKey: true,
        allowedSessionKeyPrefixes: ["hook:", "agent:main:"],
      },
    });
  });

  it("reads JSON5 numbers and escapes", () => {
    expect(parseJson5("[0x1F, -0xa, .5, 5., +1, -Infinity, 1e3, 0]")).toEqual([
      31,
      -10,
      0.5,
      5,
      1,
      -Infinity,
      1000,
      0,
    ]);
    expect(Number.isNaN(parseJson5("NaN"))).toBe(true);
    expect(
      parseJson5(String.raw`"a\x41\u00e9\n\
b"`),
    ).toBe("aAé\nb");
    expect(parseJson5('{"$a_1": null, ünï: false}')).toEqual({ $a_1: null, ünï: false });
  });

  it("keeps __proto__ as an own key, never as the prototype", () => {
    const value = parseJson5('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(null);
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ["{a: 1", 1, 6],
    ["{a 1}", 1, 4],
    ["[1 2]", 1, 4],
    ["01", 1, 1],
    ["'x\ny'", 1, 3],
    ['"\\1"', 1, 3],
    ["/* open", 1, 1],
    ["{}  x", 1, 5],
    ["{1a: 2}", 1, 2],
    ["tru", 1, 1],
    ["[1,,2]", 1, 4],
  ])("refuses %j with the line and column", (text, line, column) => {
    let caught: unknown;
    try {
      parseJson5(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Json5Error);
    expect(caught).toMatchObject({ line, column });
  });
});
