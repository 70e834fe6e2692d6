import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REDACTED, redact } from "../../../relay/audit/redact.ts";
import { escapedEchoes } from "../../helpers/escaped-echoes.ts";

/** Tokens holding every character an escaping echo rewrites. */
const TOKENS = [
  'tok"quote\\back{brace}',
  "tok<lt>&amp;+plus space",
  "tök-ünï/çødé-😀-\u00a0",
  "t'o\"k\\e<n>&+ /é",
];

describe("redact with escaped echoes of a secret", () => {
  for (const token of TOKENS) {
    for (const [form, echo] of Object.entries(escapedEchoes(token))) {
      it(`removes ${JSON.stringify(token)} echoed ${form}`, () => {
        const out = redact({ responseExcerpt: `error: bad token <${echo}> (${echo})` }, [token]) as {
          responseExcerpt: string;
        };
        expect(out.responseExcerpt).toBe(`error: bad token <${REDACTED}> (${REDACTED})`);
      });
    }
  }

  it.each([
    ["raw", "plain token-123"],
    ["form-encoded", "plain+token-123"],
    ["URL-encoded", "plain%20token-123"],
    ["JSON-escaped", "plain\\u0020token-123"],
    ["HTML-escaped", "plain&#32;token-123"],
  ])("removes a token of plain characters echoed %s in otherwise plain text", (_form, echo) => {
    expect(redact(`bad token: ${echo} (retry)`, ["plain token-123"])).toBe(`bad token: ${REDACTED} (retry)`);
  });

  it("leaves text without the secret alone, including near misses", () => {
    const token = 'tok"quote\\back';
    const text = 'tok"quote\\bac tok\\"quote\\\\bac %74ok';
    expect(redact(text, [token])).toBe(text);
  });

  it("finds any secret in any echoed form inside any text", () => {
    fc.assert(
      fc.property(
        fc.string({
          minLength: 8,
          maxLength: 24,
          unit: fc.constantFrom('"', "\\", "{", "<", "&", "+", " ", "é", "😀", "a", "/", "%", "'"),
        }),
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        (secret, before, after) => {
          for (const echo of Object.values(escapedEchoes(secret))) {
            const out = redact(`${before}${echo}${after}`, [secret]) as string;
            for (const form of Object.values(escapedEchoes(secret))) expect(out).not.toContain(form);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
