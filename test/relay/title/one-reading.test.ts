import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { buildTitle } from "../../../relay/title/build-title.ts";
import { parseTitle } from "../../../relay/title/parse-title.ts";
import { KNOWN_TAG_KEYS, type ParsedTitle, type TitleTags } from "../../../relay/title/title-tags.ts";
import { naiveTags, type TagReadings, visibleTags } from "../../helpers/title-readers.ts";

/**
 * DESIGN.md "One reading only", as properties over adversarial alphabets: ASCII tag syntax mixed
 * with format characters, confusable keys and `=` signs, white space variants and percent escapes.
 */

const ATTACK_UNITS = [
  // tag syntax and routes
  "runId",
  "callbackSession",
  "callbackSessionId",
  "repoRoot",
  "=",
  "r1",
  "run-42",
  "agent:main:main",
  "agent:main:evil",
  "x",
  "-",
  "/",
  // confusable keys and = signs
  "RunId",
  "CALLBACKSESSION",
  "ｒｕｎＩｄ",
  "callbackSessiоn",
  "＝",
  "﹦",
  "꞊",
  "⁼",
  // white space variants
  " ",
  " ",
  " ",
  "\u00a0",
  "\u3000",
  "\u2028",
  "\u2003",
  "\u202f",
];
const INVISIBLE_UNITS = [
  "\u200b",
  "\u200d",
  "\u202e",
  "\u2066",
  "\ufeff",
  "\u00ad",
  "\ufe0f",
  "\u2800",
  "\u3164",
];
const ESCAPE_UNITS = ["%", "%3D", "%20", "%2D", "%E2%80%8B", "%E2%80%AE", "%C2%A0", "é", "😀"];
/** Mostly visible syntax, with invisible characters now and then (else nearly nothing parses). */
const attackUnit = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...ATTACK_UNITS, ...ESCAPE_UNITS) },
  { weight: 1, arbitrary: fc.constantFrom(...INVISIBLE_UNITS) },
);
const attackTitle = fc.string({ unit: attackUnit, maxLength: 24 });
/** Titles that at least try to route: a real runId tag somewhere among the noise. */
const routedAttackTitle = fc
  .tuple(attackTitle, attackTitle)
  .map(([a, b]) => `${a} runId=r1 callbackSession=agent:main:main ${b}`);

const ROUTING = KNOWN_TAG_KEYS;

function tryParse(title: string): ParsedTitle | RelayError {
  try {
    return parseTitle(title);
  } catch (error) {
    if (error instanceof RelayError) return error;
    throw error;
  }
}

/** What parseTitle read, in the readers' shape, compared after NFKC (how the eye sees it). */
function asReadings(tags: TitleTags): TagReadings {
  const out: TagReadings = {};
  for (const key of ROUTING) if (tags[key] !== undefined) out[key] = [tags[key].normalize("NFKC")];
  return out;
}
function nfkc(readings: TagReadings): TagReadings {
  return Object.fromEntries(Object.entries(readings).map(([k, v]) => [k, v.map((s) => s.normalize("NFKC"))]));
}

describe("one reading of a title", () => {
  it("never yields routing tags that a person's or a naive parser's reading contradicts", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(attackTitle, routedAttackTitle), (title) => {
        const parsed = tryParse(title);
        if (parsed instanceof RelayError) {
          expect(parsed.code.startsWith("TITLE_")).toBe(true);
          return;
        }
        accepted++;
        const read = asReadings(parsed.tags);
        expect(nfkc(visibleTags(title))).toEqual(read);
        expect(nfkc(naiveTags(title))).toEqual(read);
      }),
      { numRuns: 5000 },
    );
    // The property is not vacuous: plenty of adversarial titles are accepted and checked.
    expect(accepted).toBeGreaterThan(500);
  });

  it("buildTitle writes only titles every reader reads as the tags it was given, or refuses with a TITLE_ code", () => {
    // Nine values and a text: invisible characters rarer still, so that most inputs are written.
    const unit = fc.oneof(
      { weight: 80, arbitrary: fc.constantFrom(...ATTACK_UNITS, ...ESCAPE_UNITS) },
      { weight: 1, arbitrary: fc.constantFrom(...INVISIBLE_UNITS) },
    );
    const value = fc.string({ unit, maxLength: 10 });
    const tags: fc.Arbitrary<TitleTags> = fc.record(
      Object.fromEntries(ROUTING.map((key) => [key, value])) as Record<keyof TitleTags, fc.Arbitrary<string>>,
      { requiredKeys: [] },
    );
    let written = 0;
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 24 }), tags, (text, given) => {
        let title: string;
        try {
          title = buildTitle(text, given);
        } catch (error) {
          expect(error).toBeInstanceOf(RelayError);
          expect((error as RelayError).code).toBe("TITLE_FORMAT_CHARACTER");
          return;
        }
        written++;
        const parsed = parseTitle(title);
        expect(parsed.tags).toEqual(given);
        const expected = asReadings(given);
        expect(nfkc(visibleTags(title))).toEqual(expected);
        expect(nfkc(naiveTags(title))).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
    expect(written).toBeGreaterThan(1000);
  });
});
