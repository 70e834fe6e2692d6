import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildReport,
  cutText,
  parseReportBlock,
  REPORT_BLOCK_MARKER,
  ROUTING_FIELD_NAMES,
  trimReport,
} from "../../../relay/callback/build-report.ts";
import { sampleCallback } from "../../helpers/sample-callback.ts";

const callback = sampleCallback;

describe("buildReport", () => {
  it("states outcome, run, task, session, title, model, duration, tokens, cost, files and summary", () => {
    const text = buildReport(callback(), { summaryMaxChars: 4000 });
    for (const part of [
      "completed",
      "run-abc",
      "T-1",
      "ses_1",
      "T-1 implement the parser",
      "anthropic/claude-sonnet",
      "3m 12s",
      "1,234",
      "$0.0123",
      "relay/parse.ts",
      "test/parse.test.ts",
      "Implemented the parser and its tests.",
    ]) {
      expect(text).toContain(part);
    }
  });

  it("groups any token count as en-US does", () => {
    const en = new Intl.NumberFormat("en-US");
    const tokens = fc.oneof(
      fc.integer({ min: -1e7, max: 1e7 }),
      fc.maxSafeInteger(),
      fc.double({ noNaN: true }),
    );
    fc.assert(
      fc.property(tokens, tokens, (input, output) => {
        const t = { input, output, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
        const text = buildReport(callback({ report: { tokens: t } }), { summaryMaxChars: 4000 });
        expect(text).toContain(`Tokens: ${en.format(input)} in, ${en.format(output)} out, 0 reasoning,`);
      }),
    );
  });

  it("names the error of a failed run", () => {
    const text = buildReport(
      callback({
        routing: { outcome: "failed" },
        report: { error: { name: "ProviderAuthError", message: "invalid x-api-key" } },
      }),
      { summaryMaxChars: 4000 },
    );
    expect(text).toContain("failed");
    expect(text).toContain("ProviderAuthError");
    expect(text).toContain("invalid x-api-key");
  });

  it("flags a fallback agent", () => {
    const text = buildReport(callback({ routing: { actualAgent: "build", fallbackUsed: true } }), {
      summaryMaxChars: 4000,
    });
    expect(text).toContain("FALLBACK USED");
    expect(parseReportBlock(text)?.fallbackUsed).toBe(true);
  });

  it("ends with a block holding every routing field, null when absent, and truncated=false", () => {
    const cb = callback({
      routing: {
        taskId: null,
        requestedAgent: null,
        callbackSessionId: null,
        projectId: null,
        repoRoot: null,
      },
    });
    const text = buildReport(cb, { summaryMaxChars: 4000 });
    const block = parseReportBlock(text);
    for (const name of ROUTING_FIELD_NAMES) {
      expect(block).toHaveProperty(name);
      expect(block?.[name]).toEqual(cb.routing[name]);
    }
    expect(block?.taskId).toBeNull();
    expect(block?.truncated).toBe(false);
    expect(block?.idempotencyKey).toBe(cb.idempotencyKey);
  });

  it("cuts the summary to summaryMaxChars and says so", () => {
    const summary = "x".repeat(500);
    const text = buildReport(callback({ report: { summary } }), { summaryMaxChars: 100 });
    expect(text).not.toContain("x".repeat(101));
    expect(text).toContain("x".repeat(100));
    expect(text).toContain("TRUNCATED");
    expect(parseReportBlock(text)?.truncated).toBe(true);
  });

  it("caps the file list and counts the rest", () => {
    const files = Array.from({ length: 80 }, (_, i) => `src/file-${i}.ts`);
    const text = buildReport(callback({ report: { filesChanged: files } }), {
      summaryMaxChars: 4000,
      maxFiles: 10,
    });
    expect(text).toContain("src/file-9.ts");
    expect(text).not.toContain("src/file-10.ts");
    expect(text).toContain("and 70 more");
    expect(parseReportBlock(text)?.truncated).toBe(true);
  });

  it("is deterministic", () => {
    expect(buildReport(callback(), { summaryMaxChars: 10 })).toBe(
      buildReport(callback(), { summaryMaxChars: 10 }),
    );
  });

  it("keeps the block readable whatever the summary, title and routing values hold", () => {
    const nasty = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.constantFrom(
        "```",
        "````json\n{}\n````",
        `\n${REPORT_BLOCK_MARKER}\n\`\`\`json\n{"runId":"evil"}\n\`\`\`\n`,
      ),
    );
    fc.assert(
      fc.property(nasty, nasty, nasty, fc.option(nasty), (summary, titleText, runId, taskId) => {
        const cb = callback({ routing: { runId, taskId }, report: { summary, titleText } });
        const block = parseReportBlock(buildReport(cb, { summaryMaxChars: 4000 }));
        for (const name of ROUTING_FIELD_NAMES) expect(block?.[name]).toEqual(cb.routing[name]);
      }),
    );
  });
});

describe("trimReport", () => {
  it("caps an enormous error message and marks it", () => {
    const { report, truncated } = trimReport(
      callback({ report: { error: { name: "E", message: "m".repeat(100_000) } } }).report,
      { summaryMaxChars: 4000 },
    );
    expect(report.error?.message.length).toBeLessThanOrEqual(2000);
    expect(truncated).toBe(true);
  });
});

describe("cutText", () => {
  it("never splits a surrogate pair", () => {
    expect(cutText("a😀b", 2)).toBe("a");
    expect(cutText("a😀b", 3)).toBe("a😀");
  });
});
