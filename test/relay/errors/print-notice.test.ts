import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../../relay/errors/errors.ts";
import { noticeLine, printNotice } from "../../../relay/errors/print-notice.ts";

describe("noticeLine", () => {
  it("is one line: prefix, what, code and the code's hint by default", () => {
    const line = noticeLine({ what: "run x held", code: "CONFIG_ENV_MISSING" });
    expect(line).toBe(
      `opencode-callback-relay: run x held: CONFIG_ENV_MISSING: ${ERROR_CODES.CONFIG_ENV_MISSING.hint}\n`,
    );
  });

  it("escapes control, line-separator and bidi characters so a notice stays one plain line", () => {
    const line = noticeLine({ what: "run \u001b[31mred\nx\u2028y\u202ez", code: "INTERNAL", fix: "a\rb" });
    expect(line.split("\n")).toEqual([expect.any(String), ""]);
    expect(line).not.toMatch(/[\u001b\r\u2028\u202e]/);
    expect(line).toContain("\\u001b[31mred\\u000ax\\u2028y\\u202ez");
  });
});

describe("printNotice", () => {
  it("never throws, even when the stream does", () => {
    expect(() =>
      printNotice({ what: "w", code: "INTERNAL" }, () => {
        throw new Error("EPIPE");
      }),
    ).not.toThrow();
  });
});
