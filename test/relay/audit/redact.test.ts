import { describe, expect, it } from "vitest";
import { isSecretKey, REDACTED, redact } from "../../../relay/audit/redact.ts";

describe("isSecretKey", () => {
  it.each([
    "Authorization",
    "authorization",
    "x-api-key",
    "X_API_KEY",
    "webhook-signature",
    "webhook_signature",
    "setCookie",
    "clientSecret",
    "accessToken",
    "token",
    "hooks.token",
    "password",
    "signingKey",
    "private_key",
    "credentials",
  ])("treats %s as secret", (key) => {
    expect(isSecretKey(key)).toBe(true);
  });

  it.each(["tokens", "tokenCount", "idempotencyKey", "sessionKey", "dedupeKey", "reason", "url"])(
    "keeps %s",
    (key) => {
      expect(isSecretKey(key)).toBe(false);
    },
  );
});

describe("redact", () => {
  it("drops secret-looking keys at every depth, arrays included", () => {
    expect(
      redact({
        a: 1,
        headers: { Authorization: "x" },
        list: [{ password: "p", keep: true }],
        tokens: { input: 3 },
      }),
    ).toEqual({ a: 1, headers: {}, list: [{ keep: true }], tokens: { input: 3 } });
  });

  it("replaces every occurrence of each literal, in values and keys, longest first", () => {
    const out = redact({ reason: "a sec-1234567 b sec-1234567-long c", "k-sec-1234567": 1 }, [
      "sec-1234567",
      "sec-1234567-long",
      "",
    ]);
    expect(out).toEqual({
      reason: `a ${REDACTED} b ${REDACTED} c`,
      [`k-${REDACTED}`]: 1,
    });
    expect(JSON.stringify(out)).not.toContain("sec-1234567");
  });

  it("removes bearer credentials and URL userinfo wherever they are quoted", () => {
    const out = redact({ reason: "sent Bearer abcdefgh12345 to https://user:pw@example.test/x" }) as {
      reason: string;
    };
    expect(out.reason).not.toContain("abcdefgh12345");
    expect(out.reason).not.toContain("user:pw");
    expect(out.reason).toContain("https://");
  });

  it("turns non-JSON values into JSON ones and keeps only an error's name, message and code", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const error = Object.assign(new Error("boom tok-abcdef123"), {
      code: "ECONNRESET",
      config: { token: "t" },
    });
    const out = redact(
      {
        at: new Date("2026-01-02T03:04:05Z"),
        big: 10n,
        nan: Number.NaN,
        fn: () => 1,
        missing: undefined,
        cycle,
        error,
      },
      ["tok-abcdef123"],
    );
    expect(out).toEqual({
      at: "2026-01-02T03:04:05.000Z",
      big: "10",
      nan: null,
      cycle: { self: "[circular]" },
      error: { name: "Error", message: `boom ${REDACTED}`, code: "ECONNRESET" },
    });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});
