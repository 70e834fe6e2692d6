import { INVISIBLE_CHARACTERS } from "./invisible-characters.ts";
import { percentDecode } from "./percent-decode.ts";
import { KNOWN_TAG_KEYS } from "./title-tags.ts";

const KNOWN_KEYS: ReadonlySet<string> = new Set(KNOWN_TAG_KEYS);
const KNOWN_BY_LOWER: ReadonlyMap<string, string> = new Map(KNOWN_TAG_KEYS.map((k) => [k.toLowerCase(), k]));

/**
 * Characters a person reads as `=`: these look like it without being equivalent. The ones NFKC
 * maps to text holding `=` are {@link EQUALS_BY_NFKC}.
 */
export const EQUALS_LOOK_ALIKES = /[\uA78A\u30A0\u2E40\u1400\u2550\u3013]/gu;
/** Every code point whose NFKC form holds `=` (superscript, subscript, `::=`, `==`, small, fullwidth). */
export const EQUALS_BY_NFKC = /[\u207C\u208C\u2A74-\u2A76\uFE66\uFF1D]/u;
/** Cheap pre-check: a word with nothing read as `=` cannot read as a tag (skips NFKC for most words). */
const ANY_EQUALS = new RegExp(`=|${EQUALS_BY_NFKC.source}|${EQUALS_LOOK_ALIKES.source}`, "u");
/** A key as some reader could take it: letters, marks, digits and `_` of any script. */
const KEY_LIKE = /^[\p{L}\p{M}\p{N}_]+$/u;

/**
 * The known key `key` imitates when it is not one itself, or null: an ASCII tag key that equals a
 * known key once case is ignored (`CallbackSession`, `runid`).
 */
export function imitatedKnownKey(key: string): string | null {
  if (KNOWN_KEYS.has(key)) return null;
  return KNOWN_BY_LOWER.get(key.toLowerCase()) ?? null;
}

/**
 * For a word the parser does NOT read as a tag: the key a looser reader would see in it, or null.
 * A looser reader applies NFKC (fullwidth `ｒｕｎＩｄ`, `＝`), drops invisible characters, takes
 * `=` look-alikes for `=` and percent-decodes the key (`run%49d=`). The word is refused when that
 * key is a known key in any case, or is not ASCII at all: a key in another script can be built
 * from look-alike letters (Cyrillic `о` in `callbackSessiоn`) that no table lists completely.
 * ASCII non-identifiers (`1a=b`, `a-b=c`) are left alone: no reader takes them for a known key.
 */
export function looseTagKey(word: string): string | null {
  if (!ANY_EQUALS.test(word)) return null;
  const loose = word.normalize("NFKC").replace(INVISIBLE_CHARACTERS, "").replace(EQUALS_LOOK_ALIKES, "=");
  const end = loose.indexOf("=");
  if (end <= 0) return null;
  const key = percentDecode(loose.slice(0, end), "lenient").normalize("NFKC");
  if (!KEY_LIKE.test(key)) return null;
  if (!/^[A-Za-z0-9_]*$/.test(key)) return key;
  return KNOWN_BY_LOWER.has(key.toLowerCase()) ? key : null;
}
