import { RelayError } from "../errors/index.ts";
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
 *   integrity error.
 *
 * The ambiguity this leaves is deliberate and one-sided: an older tool's literal `%41` reads as
 * `A`. buildTitle() always encodes `%`, so titles it writes never hit it.
 */
export const TAG_TOKEN = /^([A-Za-z][A-Za-z0-9_]*)=/;

const WHITE_SPACE = /\s+/u;
/** C0 controls (tab and newline included), DEL and C1 controls. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** In `u` mode a well-formed surrogate pair is one code point, so this finds only lone halves. */
const LONE_SURROGATE = /\p{Cs}/u;
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
/** Cheap pre-check: a token that starts with `runId=` and has at least one more character. */
const RUN_ID_TOKEN = /(?:^|\s)runId=(\S+)/u;

const KNOWN_KEYS: ReadonlySet<string> = new Set(KNOWN_TAG_KEYS);
// ignoreBOM keeps a decoded U+FEFF instead of silently dropping it at the start of a run.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Whether the title carries a `runId=` tag with a non-empty value. Called on every
 * `session.updated`, so it scans once and never throws; a `true` title may still fail
 * {@link parseTitle} (that failure is then an audited integrity error).
 */
export function hasRunId(title: string): boolean {
  return RUN_ID_TOKEN.test(title);
}

/**
 * The raw (undecoded) value of the first `runId=` token, or undefined: a run's identity inside
 * one session before, or without, a full {@link parseTitle}. Never throws.
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
 *   values are fine); TITLE_VALUE_TOO_LONG when a decoded value is over MAX_TAG_VALUE_LENGTH;
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

  const words: string[] = [];
  const tags: TitleTags = {};
  const extra: Array<[string, string]> = [];
  for (const token of title.split(WHITE_SPACE)) {
    if (token === "") continue;
    const match = TAG_TOKEN.exec(token);
    if (!match) {
      words.push(decodeEscapes(token, false) ?? token);
      continue;
    }
    const key = match[1]!;
    const raw = token.slice(key.length + 1);
    const value = decodeEscapes(raw, true);
    if (value === null) {
      throw new RelayError(
        "TITLE_BAD_ENCODING",
        `the value of ${key} (${JSON.stringify(raw)}) has %-escapes that are not valid UTF-8`,
        { details: { key } },
      );
    }
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

/**
 * Decode every run of `%XX` escapes as UTF-8. An invalid run makes the result `null` when
 * `strict`, and is kept literally otherwise.
 */
function decodeEscapes(raw: string, strict: boolean): string | null {
  if (!raw.includes("%")) return raw;
  let invalid = false;
  const decoded = raw.replace(ESCAPE_RUN, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    try {
      return UTF8.decode(bytes);
    } catch {
      invalid = true;
      return run;
    }
  });
  return invalid && strict ? null : decoded;
}

function codePointName(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}
