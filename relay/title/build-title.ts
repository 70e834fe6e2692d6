import { RelayError } from "../errors/index.ts";
import { EQUALS_BY_NFKC, EQUALS_LOOK_ALIKES, imitatedKnownKey } from "./confusable-key.ts";
import { codePointName, findInvisible, findInvisibleOutsideWords } from "./invisible-characters.ts";
import { KNOWN_TAG_KEYS, MAX_TAG_VALUE_LENGTH, MAX_TITLE_LENGTH, type TitleTags } from "./title-tags.ts";

const WHITE_SPACE = /\s+/u;
const KEY = /^[A-Za-z][A-Za-z0-9_]*$/;
/** What would break a token or be refused raw by the parser: `%`, white space, C0/DEL/C1 controls. */
const VALUE_ESCAPE = /[%\s\u0000-\u001f\u007f-\u009f]/u;
/**
 * In free words white space already separated them, so `%`, controls and every `=` or character
 * read as one remain: no free word can then read as a tag, to the parser or to a looser reader.
 */
const WORD_ESCAPE = new RegExp(
  `[%=\\u0000-\\u001f\\u007f-\\u009f]|${EQUALS_BY_NFKC.source}|${EQUALS_LOOK_ALIKES.source}`,
  "u",
);
const LONE_SURROGATE = /\p{Cs}/u;
const KNOWN_KEYS: ReadonlySet<string> = new Set(KNOWN_TAG_KEYS);
const UTF8 = new TextEncoder();

/**
 * Build a session title: the free words of `text`, then the known tags in KNOWN_TAG_KEYS order
 * (absent ones skipped), then `extra` in the order given.
 *
 * The contract, for every input it accepts:
 * `parseTitle(buildTitle(text, tags, extra))` deep-equals
 * `{ text: normaliseTitleText(text), tags, extra }`, where normaliseTitleText collapses each run
 * of white space to one space and trims (the parser joins free words with single spaces, so this
 * is the only information lost).
 *
 * How it keeps that contract:
 * - values: `%`, every white-space character (JS `\s`: Unicode spaces included) and control
 *   characters are percent-encoded as UTF-8 `%XX`; everything else (`=`, `:`, `/`, non-ASCII
 *   text) stays readable. Empty values are written as `key=` and read back as "".
 * - free words: `%`, control characters, and every `=` or `=` look-alike (`＝`, `꞊`) are encoded
 *   (`a=b` → `a%3Db`), so text can never inject a tag, nor a word a looser reader takes for one.
 * - invisible characters (invisible-characters.ts) are refused, not encoded: the parser would
 *   refuse them in a value and keep them escaped in a word, so they could never come back.
 *
 * @throws RelayError TITLE_BAD_ENCODING when text or a value holds a lone UTF-16 surrogate (it has
 *   no UTF-8 form); TITLE_FORMAT_CHARACTER when text or a value holds an invisible character
 *   (variation selectors are kept in text); TITLE_BAD_KEY when an extra key is not an identifier,
 *   is a known key or differs from one only in case (it would read back as, or imitate, a known tag); TITLE_VALUE_TOO_LONG / TITLE_TOO_LONG when the parser would
 *   refuse the result, so buildTitle never writes a title parseTitle rejects.
 */
export function buildTitle(text: string, tags: TitleTags, extra: Array<[string, string]> = []): string {
  const tokens: string[] = [];
  const invisible = findInvisibleOutsideWords(text);
  if (invisible) throw invisibleCharacter(invisible[0], "the title text", null);
  for (const word of text.split(WHITE_SPACE)) {
    if (word !== "") tokens.push(encodeWord(word));
  }
  for (const key of KNOWN_TAG_KEYS) {
    const value = tags[key];
    if (value !== undefined) tokens.push(`${key}=${encodeValue(key, value)}`);
  }
  for (const [key, value] of extra) {
    if (!KEY.test(key) || KNOWN_KEYS.has(key) || imitatedKnownKey(key) !== null) {
      throw new RelayError(
        "TITLE_BAD_KEY",
        `extra tag key ${JSON.stringify(key)} is ${KEY.test(key) ? "a known key, or one in other case: pass known keys in tags" : "not an identifier ([A-Za-z][A-Za-z0-9_]*)"}`,
        { details: { key } },
      );
    }
    tokens.push(`${key}=${encodeValue(key, value)}`);
  }
  const title = tokens.join(" ");
  if (title.length > MAX_TITLE_LENGTH) {
    throw new RelayError(
      "TITLE_TOO_LONG",
      `the built title is ${title.length} characters long; at most ${MAX_TITLE_LENGTH} are accepted: shorten the text or the values`,
      { details: { length: title.length, max: MAX_TITLE_LENGTH } },
    );
  }
  return title;
}

/** The free text as parseTitle() gives it back: white-space runs collapsed to one space, trimmed. */
export function normaliseTitleText(text: string): string {
  return text
    .split(WHITE_SPACE)
    .filter((word) => word !== "")
    .join(" ");
}

function encodeValue(key: string, value: string): string {
  if (value.length > MAX_TAG_VALUE_LENGTH) {
    throw new RelayError(
      "TITLE_VALUE_TOO_LONG",
      `the value of ${key} is ${value.length} characters long; at most ${MAX_TAG_VALUE_LENGTH} are accepted`,
      { details: { key, length: value.length, max: MAX_TAG_VALUE_LENGTH } },
    );
  }
  refuseLoneSurrogate(value, key);
  const invisible = findInvisible(value);
  if (invisible) throw invisibleCharacter(invisible[0], `the value of ${key}`, key);
  return percentEncode(value, VALUE_ESCAPE);
}

function encodeWord(word: string): string {
  refuseLoneSurrogate(word, null);
  return percentEncode(word, WORD_ESCAPE);
}

function invisibleCharacter(char: string, where: string, key: string | null): RelayError {
  return new RelayError(
    "TITLE_FORMAT_CHARACTER",
    `${where} holds the invisible or format character ${codePointName(char)}; a title holding it could display differently from how it parses: remove it`,
    { details: key === null ? { codePoint: codePointName(char) } : { key, codePoint: codePointName(char) } },
  );
}

function percentEncode(value: string, unsafe: RegExp): string {
  if (!unsafe.test(value)) return value;
  let out = "";
  for (const char of value) {
    if (!unsafe.test(char)) {
      out += char;
      continue;
    }
    for (const byte of UTF8.encode(char)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function refuseLoneSurrogate(value: string, key: string | null): void {
  const match = LONE_SURROGATE.exec(value);
  if (!match) return;
  throw new RelayError(
    "TITLE_BAD_ENCODING",
    `${key === null ? "the title text" : `the value of ${key}`} holds a lone UTF-16 surrogate at index ${match.index}; it has no UTF-8 form`,
    { details: key === null ? { index: match.index } : { key, index: match.index } },
  );
}
