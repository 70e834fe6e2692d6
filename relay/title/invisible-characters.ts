/**
 * Characters that change what a title means without being seen (DESIGN.md "One reading only").
 *
 * - Unicode format characters (general category Cf): bidi embeddings, overrides and isolates that
 *   make the free text display another route, zero-width space/joiners that glue a decoy onto a
 *   word or hide a second key, the BOM, the soft hyphen, tag characters;
 * - the other default-ignorable code points (Hangul fillers, the combining grapheme joiner,
 *   variation selectors…), which render as nothing, and U+2800 BRAILLE PATTERN BLANK, which
 *   renders as a space but separates nothing.
 *
 * JSON.stringify escapes control characters but writes all of these as they are, so a value
 * holding one would also look like another in the audit log.
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u;

/**
 * Variation selectors choose a glyph for the character before them (an emoji's colour form): free
 * words may keep them, tag tokens may not (the parser reads them, a person does not see them).
 */
const VARIATION_SELECTOR = /[\u180B-\u180D\u180F\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;
const INVISIBLE_OUTSIDE_WORDS = new RegExp(`(?!${VARIATION_SELECTOR.source})${INVISIBLE.source}`, "u");

/** Every invisible character, variation selectors included, each as one match. */
export const INVISIBLE_CHARACTERS = new RegExp(INVISIBLE.source, "gu");

/** The first invisible character of `text`, variation selectors included, or null. */
export function findInvisible(text: string): RegExpExecArray | null {
  return INVISIBLE.exec(text);
}

/** The first invisible character that is not a variation selector, or null. */
export function findInvisibleOutsideWords(text: string): RegExpExecArray | null {
  return INVISIBLE_OUTSIDE_WORDS.exec(text);
}

/** `U+200B` */
export function codePointName(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}
