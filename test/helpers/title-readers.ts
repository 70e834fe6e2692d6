import { KNOWN_TAG_KEYS } from "../../relay/title/title-tags.ts";

/**
 * Two other readers of a title's routing tags, written independently of relay/title (the code
 * under test), for the property tests: whatever parseTitle accepts, these must read the same
 * routing from it.
 *
 * - visibleTags: a person looking at the rendered title. Invisible characters are not seen
 *   (blank-looking ones are seen as a space), letters are recognised whatever their case, width or
 *   style (NFKC, case-insensitive keys), and anything drawn like `=` is `=`.
 * - naiveTags: a careless second parser, `title.split(" ")` and an exact `key=` prefix.
 *
 * Values are percent-decoded where that is valid UTF-8. Each returns every reading per known key,
 * so a key read twice shows up as two values.
 */
export type TagReadings = Record<string, string[]>;

const KNOWN_BY_LOWER = new Map(KNOWN_TAG_KEYS.map((k) => [k.toLowerCase(), k]));
const BLANK_LOOKING = /[\u2800\u3164\uFFA0\u115F\u1160]/gu;
const UNSEEN = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;
const DRAWN_LIKE_EQUALS = /[=\uA78A\u30A0\u2E40\u1400\u2550\u3013]/u;

export function visibleTags(title: string): TagReadings {
  const readings: TagReadings = {};
  const seen = title.replace(BLANK_LOOKING, " ").replace(UNSEEN, "");
  for (const word of seen.split(/\s+/u)) {
    const token = word.normalize("NFKC");
    const at = token.search(DRAWN_LIKE_EQUALS);
    if (at <= 0) continue;
    const key = KNOWN_BY_LOWER.get(decode(token.slice(0, at)).toLowerCase());
    if (key !== undefined) add(readings, key, decode(token.slice(at + 1)));
  }
  return readings;
}

export function naiveTags(title: string): TagReadings {
  const readings: TagReadings = {};
  for (const word of title.split(" ")) {
    for (const key of KNOWN_TAG_KEYS) {
      if (word.startsWith(`${key}=`)) add(readings, key, decode(word.slice(key.length + 1)));
    }
  }
  return readings;
}

function add(readings: TagReadings, key: string, value: string): void {
  readings[key] = [...(readings[key] ?? []), value];
}

function decode(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}
