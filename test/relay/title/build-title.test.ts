import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { buildTitle, normaliseTitleText } from "../../../relay/title/build-title.ts";
import { parseTitle } from "../../../relay/title/parse-title.ts";
import {
  KNOWN_TAG_KEYS,
  MAX_TAG_VALUE_LENGTH,
  MAX_TITLE_LENGTH,
  type TitleTags,
} from "../../../relay/title/title-tags.ts";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof RelayError) return error.code;
    throw error;
  }
  return undefined;
}

/** Characters that stress the grammar, mixed with arbitrary code points. */
const tricky = fc.oneof(
  fc.constantFrom(
    " ",
    "=",
    "%",
    "%2",
    "%41",
    "%C3",
    "a=b",
    "runId=x",
    "\t",
    "\n",
    "\u0000",
    "\u0085",
    "\u00a0",
  ),
  fc.constantFrom("\u2003", "\u3000", "\u2028", "\ufeff", "é", "😀", "\u200b", ":", "/", "x"),
  fc.string({ unit: "binary", maxLength: 1 }),
);
const anyText = fc.oneof(
  fc.string({ unit: tricky, maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 30 }),
);
const tagsArb: fc.Arbitrary<TitleTags> = fc.record(
  Object.fromEntries(KNOWN_TAG_KEYS.map((key) => [key, anyText])) as Record<
    keyof TitleTags,
    fc.Arbitrary<string>
  >,
  { requiredKeys: [] },
);
const knownKeys = new Set<string>(KNOWN_TAG_KEYS);
const extraKey = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,8}$/).filter((key) => !knownKeys.has(key));
const extraArb = fc.array(fc.tuple(extraKey, anyText), { maxLength: 4 });

describe("buildTitle", () => {
  it("writes free words, then known tags in a fixed order, then extra tags", () => {
    expect(
      buildTitle(
        "T-1  fix login",
        { callbackSession: "agent:main:main", runId: "run-abc", repoRoot: "/abs/path" },
        [["priority", "high"]],
      ),
    ).toBe("T-1 fix login runId=run-abc callbackSession=agent:main:main repoRoot=/abs/path priority=high");
  });

  it("encodes only what would break a token and keeps the rest readable", () => {
    expect(buildTitle("", { taskId: "a b=c%d\u00a0é/😀", repoRoot: "/x/my repo" })).toBe(
      "taskId=a%20b=c%25d%C2%A0é/😀 repoRoot=/x/my%20repo",
    );
    expect(buildTitle("", { taskId: "line\nbreak\u0000" })).toBe("taskId=line%0Abreak%00");
    expect(buildTitle("", { runId: "" })).toBe("runId=");
  });

  it("neutralises tag-like words, % and control characters in the free text", () => {
    const title = buildTitle("runId=evil callbackSession=agent:x:y 100% a\u0001b", { runId: "r1" });
    expect(title).toBe("runId%3Devil callbackSession%3Dagent:x:y 100%25 a%01b runId=r1");
    expect(parseTitle(title)).toEqual({
      text: "runId=evil callbackSession=agent:x:y 100% a\u0001b",
      tags: { runId: "r1" },
      extra: [],
    });
  });

  it("round-trips: parseTitle(buildTitle(text, tags, extra)) equals {normalised text, tags, extra}", () => {
    fc.assert(
      fc.property(anyText, tagsArb, extraArb, (text, tags, extra) => {
        let title: string;
        try {
          title = buildTitle(text, tags, extra);
        } catch (error) {
          // Only what cannot be written unambiguously is refused: an invisible character.
          expect((error as RelayError).code).toBe("TITLE_FORMAT_CHARACTER");
          const values = [text, ...Object.values(tags), ...extra.map(([, v]) => v)];
          expect(values.some((v) => /[\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u.test(v))).toBe(true);
          return;
        }
        expect(parseTitle(title)).toEqual({ text: normaliseTitleText(text), tags, extra });
      }),
      { numRuns: 2000 },
    );
  });

  it("normalises text exactly as the parser joins free words", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const normalised = normaliseTitleText(text);
        expect(normalised).not.toMatch(/^\s|\s$|\s\s|[\t\n]/u);
        expect(normaliseTitleText(normalised)).toBe(normalised);
      }),
    );
    expect(normaliseTitleText("  a \u3000 b\n\tc  ")).toBe("a b c");
  });

  it("never writes a title the parser refuses: it throws a TITLE_ code instead", () => {
    const big = fc.string({ unit: tricky, maxLength: 1500 });
    fc.assert(
      fc.property(big, fc.record({ taskId: big, repoRoot: big }, { requiredKeys: [] }), (text, tags) => {
        let title: string;
        try {
          title = buildTitle(text, tags);
        } catch (error) {
          expect(error).toBeInstanceOf(RelayError);
          expect(["TITLE_TOO_LONG", "TITLE_VALUE_TOO_LONG", "TITLE_FORMAT_CHARACTER"]).toContain(
            (error as RelayError).code,
          );
          return;
        }
        expect(parseTitle(title).tags).toEqual(tags);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses values and titles over the limits", () => {
    expect(buildTitle("", { taskId: "v".repeat(MAX_TAG_VALUE_LENGTH) })).toHaveLength(
      MAX_TAG_VALUE_LENGTH + "taskId=".length,
    );
    expect(codeOf(() => buildTitle("", { taskId: "v".repeat(MAX_TAG_VALUE_LENGTH + 1) }))).toBe(
      "TITLE_VALUE_TOO_LONG",
    );
    expect(codeOf(() => buildTitle("", {}, [["note", "v".repeat(MAX_TAG_VALUE_LENGTH + 1)]]))).toBe(
      "TITLE_VALUE_TOO_LONG",
    );
    expect(codeOf(() => buildTitle("x".repeat(MAX_TITLE_LENGTH + 1), {}))).toBe("TITLE_TOO_LONG");
    // Encoding can push a value that fits into a title that does not.
    expect(
      codeOf(() => buildTitle("", { taskId: " ".repeat(MAX_TAG_VALUE_LENGTH), repoRoot: " ".repeat(400) })),
    ).toBe("TITLE_TOO_LONG");
  });

  it("refuses extra keys that are not identifiers or that are known keys", () => {
    for (const key of ["", "1a", "a-b", "a b", "_a", "a="]) {
      expect(codeOf(() => buildTitle("", {}, [[key, "v"]]))).toBe("TITLE_BAD_KEY");
    }
    expect(codeOf(() => buildTitle("", {}, [["runId", "r1"]]))).toBe("TITLE_BAD_KEY");
    expect(codeOf(() => buildTitle("", {}, [["CallbackSession", "agent:main:x"]]))).toBe("TITLE_BAD_KEY");
  });

  it("refuses lone surrogates, which have no UTF-8 form", () => {
    expect(codeOf(() => buildTitle("a\uD800", {}))).toBe("TITLE_BAD_ENCODING");
    expect(codeOf(() => buildTitle("", { taskId: "\uDC00x" }))).toBe("TITLE_BAD_ENCODING");
  });
});
