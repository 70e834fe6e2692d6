import { describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { buildTitle } from "../../../relay/title/build-title.ts";
import { imitatedKnownKey, looseTagKey } from "../../../relay/title/confusable-key.ts";
import { parseTitle } from "../../../relay/title/parse-title.ts";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof RelayError) return error.code;
    throw error;
  }
  return undefined;
}

describe("imitatedKnownKey", () => {
  it("names the known key an ASCII key spells in other case, and nothing for exact or unrelated keys", () => {
    expect(imitatedKnownKey("CallbackSession")).toBe("callbackSession");
    expect(imitatedKnownKey("runid")).toBe("runId");
    expect(imitatedKnownKey("runId")).toBeNull();
    expect(imitatedKnownKey("priority")).toBeNull();
  });
});

describe("looseTagKey", () => {
  it.each([
    ["fullwidth letters", "ｒｕｎＩｄ=run-9", "runId"],
    ["a fullwidth =", "runId＝run-9", "runId"],
    ["a small =", "callbackSession﹦agent:main:x", "callbackSession"],
    ["a look-alike =", "callbackSession꞊agent:main:x", "callbackSession"],
    ["mathematical letters", "𝐫𝐮𝐧𝐈𝐝=r", "runId"],
    ["a variation selector inside", "run\uFE0FId=r", "runId"],
    ["a %-escaped letter", "run%49d=r", "runId"],
    ["a Cyrillic о", "callbackSessiоn=agent:main:x", "callbackSessiоn"],
    ["a combining mark", "runId\u0301=r", "runId\u0301"],
    ["a non-ASCII key", "café=bon", "café"],
  ])("reads a word with %s as a tag-like key", (_name, word, key) => {
    expect(looseTagKey(word)).toBe(key);
  });

  it.each(["plain", "=x", "1a=b", "a-b=c", "x+y=z", "runId%3Devil", "100%", "ｆｏｏ=bar", "😀=1"])(
    "leaves %s alone",
    (word) => {
      expect(looseTagKey(word)).toBeNull();
    },
  );
});

describe("parseTitle with keys that imitate known keys", () => {
  it.each([
    "T runId=r1 ｃａｌｌｂａｃｋＳｅｓｓｉｏｎ=agent:main:evil callbackSession=agent:main:main",
    "T runId=r1 callbackSession＝agent:main:evil",
    "T runId=r1 callbackSessiоn=agent:main:evil callbackSession=agent:main:main",
    "T ｒｕｎＩｄ=r2 runId=r1",
    "T runId=r1 run%49d=r2",
  ])("refuses %s as TITLE_CONFUSABLE_KEY", (title) => {
    expect(codeOf(() => parseTitle(title))).toBe("TITLE_CONFUSABLE_KEY");
  });

  it("keeps ASCII words that no reader takes for a known key as free words", () => {
    expect(parseTitle("1+1=2 a-b=c =x runId=r1").text).toBe("1+1=2 a-b=c =x");
  });
});

describe("buildTitle against confusable words", () => {
  it("encodes every = and = look-alike in free words, so none reads as a tag", () => {
    const text = "runId=evil ｒｕｎＩｄ＝evil callbackSession꞊agent:x:y a=b=c ⩵";
    const title = buildTitle(text, { runId: "r1" });
    expect(title).toBe(
      "runId%3Devil ｒｕｎＩｄ%EF%BC%9Devil callbackSession%EA%9E%8Aagent:x:y a%3Db%3Dc %E2%A9%B5 runId=r1",
    );
    expect(parseTitle(title)).toEqual({ text, tags: { runId: "r1" }, extra: [] });
  });
});
