import { RelayError } from "../errors/index.ts";
import { imitatedKnownKey, looseTagKey } from "./confusable-key.ts";
import { codePointName, findInvisible, findInvisibleOutsideWords } from "./invisible-characters.ts";
import { percentDecode } from "./percent-decode.ts";
import {
  KNOWN_TAG_KEYS,
  type KnownTagKey,
  MAX_TAG_VALUE_LENGTH,
  MAX_TITLE_LENGTH,
  type ParsedTitle,
  type TitleTags,
} from "./title-tags.ts";

/**
 * The title grammar (DESIGN.md "Tagged titles"), shared with build-title.ts so the two stay exact
 * inverses:
 *
 * - tokens are separated by runs of white space (JS `\s`, which includes the Unicode spaces);
 * - a token is a tag when it matches {@link TAG_TOKEN} (`key=` then the raw value, possibly empty);
 *   every other token is a free word;
 * - tag values are percent-decoded: each run of well-formed `%XX` escapes is read as UTF-8 and an
 *   invalid byte sequence is TITLE_BAD_ENCODING. A `%` not followed by two hex digits is kept
 *   literally, so titles from older tools (`ratio=50%`, `repoRoot=/home/x/my-repo`) still parse;
 * - free words are decoded the same way, except that a run of escapes that is not valid UTF-8 is
 *   kept literally: free words never route anything, so a stray `%E9` in a human title is not an
 *   integrity error. A run that decodes to an invisible character is kept literally too;
 * - one reading only: a title a person or a second parser could read differently is refused.
 *   Invisible characters anywhere (invisible-characters.ts: TITLE_FORMAT_CHARACTER), a key that
 *   imitates a known key (confusable-key.ts: TITLE_CONFUSABLE_KEY), and white space other than
 *   U+0020 next to a tag (TITLE_AMBIGUOUS_SPACE: a reader splitting on spaces only would glue the
 *   tag to its neighbour, `x\u00A0runId=…` is one word to it).
 *
 * The ambiguity this leaves is deliberate and one-sided: an older tool's literal `%41` reads as
 * `A`. buildTitle() always encodes `%`, so titles it writes never hit it.
 */
export const TAG_TOKEN = /^([A-Za-z][A-Za-z0-9_]*)=/;

/** Tokens: maximal runs of non-white-space (JS `\s`, Unicode spaces included). */
const TOKEN = /\S+/gu;
/** C0 controls (tab and newline included), DEL and C1 controls. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** In `u` mode a well-formed surrogate pair is one code point, so this finds only lone halves. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Cheap pre-check: a token that starts with `runId=` and has at least one more character. */
const RUN_ID_TOKEN = /(?:^|\s)runId=(\S+)/u;

const KNOWN_KEYS: ReadonlySet<string> = new Set(KNOWN_TAG_KEYS);

/**
 * Whether the title carries an exact `runId=` tag with a non-empty value: one regex scan, never
 * throws; a `true` title may still fail {@link parseTitle}. Which run a title names, refused titles
 * included, is runIdentity()'s answer.
 */
export function hasRunId(title: string): boolean {
  return RUN_ID_TOKEN.test(title);
}

/**
 * The raw (undecoded) value of the first `runId=` token, or undefined. Never throws. Not a run's
 * identity (`run%2D42` and `run-42` are one run): that is runIdentity().
 */
export function rawRunId(title: string): string | undefined {
  return RUN_ID_TOKEN.exec(title)?.[1];
}

/**
 * Parse a session title into its free words, known tags and other tags.
 *
 * @throws RelayError TITLE_TOO_LONG when the title is over MAX_TITLE_LENGTH code units;
 *   TITLE_BAD_ENCODING for a lone surrogate in the title or `%XX` escapes in a tag value that are
 *   not valid UTF-8; TITLE_CONTROL_CHARACTER for a raw C0/C1 control character (escaped ones in
 *   values are fine); TITLE_FORMAT_CHARACTER for an invisible character in the title, in a tag
 *   token (variation selectors included) or in a decoded tag value; TITLE_CONFUSABLE_KEY for a key
 *   that imitates a known key; TITLE_AMBIGUOUS_SPACE for white space other than U+0020 next to a
 *   tag; TITLE_VALUE_TOO_LONG when a decoded value is over MAX_TAG_VALUE_LENGTH;
 *   TITLE_DUPLICATE_KEY when a known key appears twice (never pick one).
 */
export function parseTitle(title: string): ParsedTitle {
  if (title.length > MAX_TITLE_LENGTH) {
    throw new RelayError(
      "TITLE_TOO_LONG",
      `the title is ${title.length} characters long; at most ${MAX_TITLE_LENGTH} are accepted`,
      { details: { length: title.length, max: MAX_TITLE_LENGTH } },
    );
  }
  const surrogate = LONE_SURROGATE.exec(title);
  if (surrogate) {
    throw new RelayError(
      "TITLE_BAD_ENCODING",
      `the title holds a lone UTF-16 surrogate (${codePointName(surrogate[0])}) at index ${surrogate.index}`,
      { details: { index: surrogate.index } },
    );
  }
  const control = CONTROL_CHARACTER.exec(title);
  if (control) {
    throw new RelayError(
      "TITLE_CONTROL_CHARACTER",
      `the title holds the control character ${codePointName(control[0])} at index ${control.index}`,
      { details: { index: control.index, codePoint: codePointName(control[0]) } },
    );
  }
  const invisible = findInvisibleOutsideWords(title);
  if (invisible) throw formatCharacter(invisible[0], `at index ${invisible.index}`, invisible.index);

  const words: string[] = [];
  const tags: TitleTags = {};
  const extra: Array<[string, string]> = [];
  for (const { 0: token, index } of title.matchAll(TOKEN)) {
    const match = TAG_TOKEN.exec(token);
    if (!match) {
      const imitated = looseTagKey(token);
      if (imitated !== null) throw confusableKey(token, imitated);
      words.push(percentDecode(token, "lenient", (decoded) => findInvisible(decoded) !== null));
      continue;
    }
    const key = match[1]!;
    const imitated = imitatedKnownKey(key);
    if (imitated !== null) throw confusableKey(token, imitated);
    refuseAmbiguousSpace(title, index, token);
    const selector = findInvisible(token);
    if (selector) throw formatCharacter(selector[0], `in the tag ${key}`, index + selector.index);
    const raw = token.slice(key.length + 1);
    const value = percentDecode(raw, "strict");
    if (value === null) {
      throw new RelayError(
        "TITLE_BAD_ENCODING",
        `the value of ${key} (${JSON.stringify(raw)}) has %-escapes that are not valid UTF-8`,
        { details: { key } },
      );
    }
    const hidden = findInvisible(value);
    if (hidden) throw formatCharacter(hidden[0], `in the decoded value of ${key}`, null, key);
    if (value.length > MAX_TAG_VALUE_LENGTH) {
      throw new RelayError(
        "TITLE_VALUE_TOO_LONG",
        `the value of ${key} is ${value.length} characters long; at most ${MAX_TAG_VALUE_LENGTH} are accepted`,
        { details: { key, length: value.length, max: MAX_TAG_VALUE_LENGTH } },
      );
    }
    if (!isKnownKey(key)) {
      extra.push([key, value]);
      continue;
    }
    const previous = tags[key];
    if (previous !== undefined) {
      throw new RelayError(
        "TITLE_DUPLICATE_KEY",
        `the title sets ${key} twice (${JSON.stringify(previous)} and ${JSON.stringify(value)}); keep exactly one`,
        { details: { key, values: [previous, value] } },
      );
    }
    tags[key] = value;
  }
  return { text: words.join(" "), tags, extra };
}

function isKnownKey(key: string): key is KnownTagKey {
  return KNOWN_KEYS.has(key);
}

/** A tag must be delimited by U+0020 or the ends of the title, so every reader cuts it the same. */
function refuseAmbiguousSpace(title: string, index: number, token: string): void {
  for (const at of [index - 1, index + token.length]) {
    const char = title[at];
    if (char === undefined || char === " ") continue;
    throw new RelayError(
      "TITLE_AMBIGUOUS_SPACE",
      `the tag ${JSON.stringify(token.slice(0, 40))} is next to the white space ${codePointName(char)} (index ${at}); a reader that splits on spaces only would read it differently: separate tags with plain spaces (U+0020)`,
      { details: { index: at, codePoint: codePointName(char) } },
    );
  }
}

function formatCharacter(char: string, where: string, index: number | null, key?: string): RelayError {
  return new RelayError(
    "TITLE_FORMAT_CHARACTER",
    `the title holds the invisible or format character ${codePointName(char)} ${where}; it can make the title read differently from how it displays: remove it`,
    {
      details: {
        codePoint: codePointName(char),
        ...(index === null ? {} : { index }),
        ...(key === undefined ? {} : { key }),
      },
    },
  );
}

function confusableKey(token: string, imitated: string): RelayError {
  return new RelayError(
    "TITLE_CONFUSABLE_KEY",
    `the word ${JSON.stringify(token.slice(0, 60))} reads as a tag whose key ${JSON.stringify(imitated)} is not spelled exactly as a known key: write known keys exactly (${KNOWN_TAG_KEYS.join(", ")}), and percent-encode the = of a word that is not a tag (buildTitle does)`,
    { details: { word: token.slice(0, 60), readAs: imitated } },
  );
}
