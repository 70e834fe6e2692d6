import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { hasRunId, parseTitle } from "../../../relay/title/parse-title.ts";
import { MAX_TAG_VALUE_LENGTH, MAX_TITLE_LENGTH } from "../../../relay/title/title-tags.ts";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof RelayError) return error.code;
    throw error;
  }
  return undefined;
}

describe("parseTitle", () => {
  it("splits free words, known tags and unknown tags", () => {
    const parsed = parseTitle(
      "T-1 fix  login runId=run-abc taskId=T-1 requested=coder resolved=coder callbackSession=agent:main:main callbackSessionId=s-1 projectId=p1 repoRoot=/abs/path priority=high",
    );
    expect(parsed).toEqual({
      text: "T-1 fix login",
      tags: {
        runId: "run-abc",
        taskId: "T-1",
        requested: "coder",
        resolved: "coder",
        callbackSession: "agent:main:main",
        callbackSessionId: "s-1",
        projectId: "p1",
        repoRoot: "/abs/path",
      },
      extra: [["priority", "high"]],
    });
  });

  it("reads OpenCode's generated titles as plain text with no tags", () => {
    expect(parseTitle("New session - 2026-11-21T05:00:00.000Z")).toEqual({
      text: "New session - 2026-11-21T05:00:00.000Z",
      tags: {},
      extra: [],
    });
    expect(parseTitle("do x (@general subagent)")).toEqual({
      text: "do x (@general subagent)",
      tags: {},
      extra: [],
    });
    expect(parseTitle("")).toEqual({ text: "", tags: {}, extra: [] });
  });

  it("treats a token as a tag only when it starts with an identifier and =", () => {
    const parsed = parseTitle("=x 1a=b _a=b a-b=c x==y a=b");
    expect(parsed.text).toBe("=x 1a=b _a=b a-b=c");
    expect(parsed.extra).toEqual([
      ["x", "=y"],
      ["a", "b"],
    ]);
  });

  it("refuses a key that is a known key in other case (RunId=, runid=, CallbackSession=)", () => {
    for (const title of [
      "RunId=r1",
      "runid=r1",
      "x runId=r1 CallbackSession=agent:main:evil",
      "REPOROOT=/x",
    ]) {
      expect(codeOf(() => parseTitle(title))).toBe("TITLE_CONFUSABLE_KEY");
    }
  });

  it("keeps unknown duplicate keys in order", () => {
    expect(parseTitle("a=1 a=2").extra).toEqual([
      ["a", "1"],
      ["a", "2"],
    ]);
  });

  it("reads an empty value as the empty string", () => {
    expect(parseTitle("runId= taskId=t").tags).toEqual({ runId: "", taskId: "t" });
  });

  it("parses titles from older tools that do not encode", () => {
    const parsed = parseTitle(
      "runId=r1 repoRoot=/home/x/my-repo ratio=50% odd=%zz%4 callbackSession=agent:main:main",
    );
    expect(parsed.tags).toEqual({
      runId: "r1",
      repoRoot: "/home/x/my-repo",
      callbackSession: "agent:main:main",
    });
    expect(parsed.extra).toEqual([
      ["ratio", "50%"],
      ["odd", "%zz%4"],
    ]);
  });

  it("decodes well-formed UTF-8 escapes in values, upper or lower case hex", () => {
    expect(parseTitle("taskId=a%20b%3dc%25d%C3%A9%e2%80%83").tags.taskId).toBe("a b=c%dé\u2003");
    expect(parseTitle("taskId=%0A%00").tags.taskId).toBe("\n\u0000");
  });

  it("keeps non-ASCII values readable", () => {
    expect(parseTitle("taskId=café-😀 repoRoot=/home/ü/x").tags).toEqual({
      taskId: "café-😀",
      repoRoot: "/home/ü/x",
    });
  });

  it("refuses escapes in a value that are not valid UTF-8", () => {
    for (const bad of ["%FF", "%C3", "%C3%28", "%ED%A0%80", "%C0%AF", "%F4%90%80%80"]) {
      expect(codeOf(() => parseTitle(`runId=r1 taskId=${bad}`))).toBe("TITLE_BAD_ENCODING");
    }
  });

  it("keeps invalid escapes in free words literally", () => {
    expect(parseTitle("save 100%FF now %41%C3%A9").text).toBe("save 100%FF now Aé");
  });

  it("refuses a duplicate known key instead of picking one", () => {
    expect(codeOf(() => parseTitle("runId=a runId=b"))).toBe("TITLE_DUPLICATE_KEY");
    expect(codeOf(() => parseTitle("callbackSession=agent:main:a x callbackSession="))).toBe(
      "TITLE_DUPLICATE_KEY",
    );
  });

  it("refuses raw control characters anywhere", () => {
    for (const control of ["\n", "\t", "\r", "\u0000", "\u001f", "\u007f", "\u0085", "\u009f"]) {
      expect(codeOf(() => parseTitle(`runId=r1 x${control}y`))).toBe("TITLE_CONTROL_CHARACTER");
      expect(codeOf(() => parseTitle(`plain${control}title`))).toBe("TITLE_CONTROL_CHARACTER");
    }
  });

  it("refuses a lone surrogate", () => {
    expect(codeOf(() => parseTitle("runId=r\uD800"))).toBe("TITLE_BAD_ENCODING");
    expect(codeOf(() => parseTitle("x \uDC00"))).toBe("TITLE_BAD_ENCODING");
  });

  it("splits free words on Unicode white space", () => {
    expect(parseTitle("a\u00a0b\u3000c\u2028d runId=r1 e\u2003f")).toEqual({
      text: "a b c d e f",
      tags: { runId: "r1" },
      extra: [],
    });
  });

  it("refuses white space other than U+0020 next to a tag: a space-splitting reader would glue it", () => {
    for (const space of ["\u00a0", "\u3000", "\u2028", "\u2029", "\u2003", "\u202f", "\u1680"]) {
      expect(codeOf(() => parseTitle(`x${space}runId=r1`))).toBe("TITLE_AMBIGUOUS_SPACE");
      expect(codeOf(() => parseTitle(`runId=r1${space}callbackSession=agent:main:main`))).toBe(
        "TITLE_AMBIGUOUS_SPACE",
      );
      expect(codeOf(() => parseTitle(`runId=r1 a=b${space}x`))).toBe("TITLE_AMBIGUOUS_SPACE");
    }
  });

  it("enforces the title and value length limits", () => {
    expect(parseTitle("x".repeat(MAX_TITLE_LENGTH)).text).toHaveLength(MAX_TITLE_LENGTH);
    expect(codeOf(() => parseTitle("x".repeat(MAX_TITLE_LENGTH + 1)))).toBe("TITLE_TOO_LONG");
    expect(parseTitle(`taskId=${"v".repeat(MAX_TAG_VALUE_LENGTH)}`).tags.taskId).toHaveLength(
      MAX_TAG_VALUE_LENGTH,
    );
    expect(codeOf(() => parseTitle(`taskId=${"v".repeat(MAX_TAG_VALUE_LENGTH + 1)}`))).toBe(
      "TITLE_VALUE_TOO_LONG",
    );
    expect(codeOf(() => parseTitle(`zz=${"v".repeat(MAX_TAG_VALUE_LENGTH + 1)}`))).toBe(
      "TITLE_VALUE_TOO_LONG",
    );
    // The limit is on the decoded value: three escapes make one character.
    expect(parseTitle(`taskId=${"%E2%80%83".repeat(MAX_TAG_VALUE_LENGTH / 4)}`).tags.taskId).toHaveLength(
      MAX_TAG_VALUE_LENGTH / 4,
    );
  });

  it("never throws anything but a RelayError with a TITLE_ code", () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom("a", "=", "%", "C3", "A9", "FF", " ", "\n", "runId=", "é", "\uD800"),
        }),
        (title) => {
          const code = codeOf(() => parseTitle(title));
          expect(code === undefined || code.startsWith("TITLE_")).toBe(true);
        },
      ),
    );
  });
});

describe("hasRunId", () => {
  it("is true only for a runId token with a non-empty value", () => {
    expect(hasRunId("runId=r1")).toBe(true);
    expect(hasRunId("fix it runId=%20 x")).toBe(true);
    expect(hasRunId("x\u3000runId=r")).toBe(true);
    expect(hasRunId("runId=")).toBe(false);
    expect(hasRunId("runId= other")).toBe(false);
    expect(hasRunId("xrunId=r1")).toBe(false);
    expect(hasRunId("RunId=r1 runid=r1")).toBe(false);
    expect(hasRunId("New session - 2026-11-21T05:00:00.000Z")).toBe(false);
    expect(hasRunId("a=b c=d")).toBe(false);
  });

  it("agrees with parseTitle whenever the title parses", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("runId=", "runid=", "r", " ", "\u00a0", "x=", "=", "%", "%41") }),
        (title) => {
          let parsed: ReturnType<typeof parseTitle>;
          try {
            parsed = parseTitle(title);
          } catch {
            return;
          }
          expect(hasRunId(title)).toBe(parsed.tags.runId !== undefined && parsed.tags.runId !== "");
        },
      ),
    );
  });

  it("never throws, even on titles parseTitle refuses", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 5000 }), (title) => {
        expect(typeof hasRunId(title)).toBe("boolean");
      }),
      { numRuns: 50 },
    );
  });
});
