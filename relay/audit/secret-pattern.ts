/**
 * Find a secret however a receiver echoed it: an error page or a JSON answer quoting the token
 * carries it JSON-escaped (`\"`, `\\`, `\u00e9`), URL-encoded (`%22`, `+` for a space) or
 * HTML-escaped (`&quot;`, `&#34;`, `&#x22;`), and a plain `includes` misses all of those as soon
 * as the token holds one such character. Each character of the secret is matched in any of its
 * forms, so mixtures (a JSON string holding a URL-encoded token) are found too.
 */

const UTF8 = new TextEncoder();
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/-]/g;

/** Hex digits in either case: `2f` → `2[fF]`. */
function anyCaseHex(hex: string): string {
  return hex.replace(/[a-f]/gi, (d) => `[${d.toLowerCase()}${d.toUpperCase()}]`);
}

const JSON_SHORT: Readonly<Record<string, string>> = {
  '"': '\\\\"',
  "\\": "\\\\\\\\",
  "/": "\\\\/",
  "\b": "\\\\b",
  "\f": "\\\\f",
  "\n": "\\\\n",
  "\r": "\\\\r",
  "\t": "\\\\t",
};

const HTML_NAMED: Readonly<Record<string, readonly string[]>> = {
  "&": ["&amp;"],
  "<": ["&lt;"],
  ">": ["&gt;"],
  '"': ["&quot;"],
  "'": ["&apos;"],
  "\u00a0": ["&nbsp;"],
};

/** Every way one code point may be written by an escaping echo, as regex source. */
function forms(char: string): string[] {
  const codePoint = char.codePointAt(0) ?? 0;
  const out = [char.replace(REGEX_SPECIAL, "\\$&")];
  // JSON: the short escape, and \uXXXX (a surrogate pair for astral characters).
  const short = JSON_SHORT[char];
  if (short !== undefined) out.push(short);
  const units = [...Array(char.length).keys()].map((i) => char.charCodeAt(i));
  out.push(units.map((unit) => `\\\\u${anyCaseHex(unit.toString(16).padStart(4, "0"))}`).join(""));
  // URL: UTF-8 bytes as %XX, and `+` for a space (form encoding).
  out.push(
    [...UTF8.encode(char)].map((byte) => `%${anyCaseHex(byte.toString(16).padStart(2, "0"))}`).join(""),
  );
  if (char === " ") out.push("\\+");
  // HTML: named, decimal and hexadecimal references (leading zeros allowed, `;` required).
  for (const name of HTML_NAMED[char] ?? []) out.push(name);
  out.push(`&#0*${codePoint};`, `&#[xX]0*${anyCaseHex(codePoint.toString(16))};`);
  return out;
}

/**
 * Regex source matching `secret` written raw, JSON-escaped, URL-encoded or HTML-escaped, each
 * character in any of those forms. Empty for an empty secret.
 */
export function secretPatternSource(secret: string): string {
  let source = "";
  for (const char of secret) source += `(?:${forms(char).join("|")})`;
  return source;
}
