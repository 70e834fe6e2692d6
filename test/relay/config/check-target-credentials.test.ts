import { describe, expect, it } from "vitest";
import { checkTargetCredentials } from "../../../relay/config/check-target-credentials.ts";
import { RelayError } from "../../../relay/errors/errors.ts";

const URL_OK = "http://127.0.0.1:18789/hooks";

function refusal(target: Parameters<typeof checkTargetCredentials>[0]): RelayError | undefined {
  try {
    checkTargetCredentials(target, "/cfg/callback-relay.jsonc");
  } catch (error) {
    if (error instanceof RelayError) return error;
    throw error;
  }
  return undefined;
}

describe("checkTargetCredentials", () => {
  it("accepts tokens and secrets of printable characters, non-ASCII and punctuation included", () => {
    expect(refusal({ url: URL_OK, token: `a"b\\c{d}<e>&f+g=é😀` })).toBeUndefined();
    expect(refusal({ url: URL_OK, secret: ["whsec_abc", "whsec_def"] })).toBeUndefined();
  });

  it.each([
    ["a trailing newline", "tok-1234567890\n", "U+000A"],
    ["a trailing CRLF", "tok-1234567890\r\n", "U+000D"],
    ["a leading space", " tok-1234567890", "U+0020"],
    ["an inner tab", "tok-12345\t67890", "U+0009"],
    ["a no-break space", "tok-12345\u00a067890", "U+00A0"],
    ["a NUL", "tok-12345\u000067890", "U+0000"],
    ["a DEL", "tok-12345\u007f", "U+007F"],
  ])("refuses a token with %s as CONFIG_INVALID naming target.token", (_name, token, codePoint) => {
    const error = refusal({ url: URL_OK, token });
    expect(error?.code).toBe("CONFIG_INVALID");
    expect(error?.details).toMatchObject({ key: "target.token", codePoint });
    expect(error?.hint).toMatch(/newline/);
    expect(JSON.stringify({ m: error?.message, h: error?.hint, d: error?.details })).not.toContain(
      "tok-12345",
    );
  });

  it("names the exact secret of a list", () => {
    expect(refusal({ url: URL_OK, secret: "whsec_abc\n" })?.details.key).toBe("target.secret");
    expect(refusal({ url: URL_OK, secret: ["whsec_abc", "whsec_def\n"] })?.details.key).toBe(
      "target.secret[1]",
    );
  });

  it.each([
    "http://user:pw@127.0.0.1:18789/hooks",
    "http://user@127.0.0.1:18789/hooks",
    "http://:pw@127.0.0.1:18789/hooks",
  ])("refuses user-info in target.url (%s), pointing to target.token", (url) => {
    const error = refusal({ url });
    expect(error?.code).toBe("CONFIG_INVALID");
    expect(error?.details).toMatchObject({ key: "target.url", part: "userinfo" });
    expect(error?.hint).toContain("target.token");
  });

  it.each([
    "token",
    "access_token",
    "api-key",
    "apiKey",
    "key",
    "secret",
    "password",
    "sig",
    "X-Amz-Signature",
    "auth",
    "jwt",
  ])("refuses the credential-like query parameter %s in target.url", (name) => {
    const error = refusal({ url: `${URL_OK}?a=1&${name}=abc` });
    expect(error?.code).toBe("CONFIG_INVALID");
    expect(error?.details).toMatchObject({ key: "target.url", part: "query", parameter: name });
    expect(error?.hint).toContain("target.token");
  });

  it("accepts ordinary query parameters", () => {
    expect(refusal({ url: `${URL_OK}?source=opencode&v=2&tokens=1` })).toBeUndefined();
  });
});
