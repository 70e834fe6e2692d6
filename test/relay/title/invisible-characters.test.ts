import { describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { buildTitle } from "../../../relay/title/build-title.ts";
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

const INVISIBLES = {
  "RIGHT-TO-LEFT OVERRIDE": "\u202E",
  "LEFT-TO-RIGHT ISOLATE": "\u2066",
  "POP DIRECTIONAL ISOLATE": "\u2069",
  "RIGHT-TO-LEFT MARK": "\u200F",
  "ARABIC LETTER MARK": "\u061C",
  "ZERO WIDTH SPACE": "\u200B",
  "ZERO WIDTH JOINER": "\u200D",
  "WORD JOINER": "\u2060",
  BOM: "\uFEFF",
  "SOFT HYPHEN": "\u00AD",
  "MONGOLIAN VOWEL SEPARATOR": "\u180E",
  "TAG LATIN SMALL LETTER A": "\u{E0061}",
  "HANGUL FILLER": "\u3164",
  "COMBINING GRAPHEME JOINER": "\u034F",
  "BRAILLE PATTERN BLANK": "\u2800",
};

describe("parseTitle with invisible characters", () => {
  it.each(Object.entries(INVISIBLES))("refuses %s anywhere: free text, key, value", (_name, char) => {
    for (const title of [
      `Fix${char} login runId=r1`,
      `${char}runId=r1`,
      `runId=r1${char}`,
      `run${char}Id=r1 callbackSession=agent:main:main`,
      `runId=r1 x${char}callbackSession=agent:main:evil`,
      `plain title ${char}`,
    ]) {
      expect(codeOf(() => parseTitle(title))).toBe("TITLE_FORMAT_CHARACTER");
    }
  });

  it("refuses a tag value that decodes to an invisible character", () => {
    expect(codeOf(() => parseTitle("runId=run-42%E2%80%8B"))).toBe("TITLE_FORMAT_CHARACTER");
    expect(codeOf(() => parseTitle("runId=r1 taskId=%E2%80%AEx"))).toBe("TITLE_FORMAT_CHARACTER");
  });

  it("keeps an escape that decodes to an invisible character literally in free words", () => {
    expect(parseTitle("a%E2%80%AEb runId=r1").text).toBe("a%E2%80%AEb");
  });

  it("keeps variation selectors (emoji presentation) in free words only", () => {
    expect(parseTitle("Ship it ❤\uFE0F runId=r1").text).toBe("Ship it ❤\uFE0F");
    expect(codeOf(() => parseTitle("runId=r1\uFE0F"))).toBe("TITLE_FORMAT_CHARACTER");
  });
});

describe("buildTitle with invisible characters", () => {
  it("refuses them in text and values instead of writing a title that reads two ways", () => {
    expect(codeOf(() => buildTitle("Fix\u202Elogin", { runId: "r1" }))).toBe("TITLE_FORMAT_CHARACTER");
    expect(codeOf(() => buildTitle("Fix", { runId: "r1\u200B" }))).toBe("TITLE_FORMAT_CHARACTER");
    expect(codeOf(() => buildTitle("Fix", {}, [["note", "\uFEFF"]]))).toBe("TITLE_FORMAT_CHARACTER");
  });

  it("keeps variation selectors in text", () => {
    const title = buildTitle("Ship ❤\uFE0F", { runId: "r1" });
    expect(parseTitle(title).text).toBe("Ship ❤\uFE0F");
  });
});
