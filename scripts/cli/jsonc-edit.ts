import {
  applyEdits,
  createScanner,
  type Edit,
  type FormattingOptions,
  findNodeAtLocation,
  type JSONPath,
  modify,
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
  type SyntaxKind,
} from "jsonc-parser";
import { isPlainObject, RelayError } from "../../relay/index.ts";

/**
 * Editing the user's JSONC config files in place: jsonc-parser's `modify` re-formats only what it
 * touches, so comments and layout elsewhere survive. These options shape the touched lines.
 */
export const JSONC_FORMAT: FormattingOptions = { insertSpaces: true, tabSize: 2, eol: "\n" };

/**
 * The syntax tree of a JSONC file (comments and trailing commas allowed, as OpenCode allows them).
 *
 * @throws RelayError CONFIG_PARSE on a syntax error: a broken file is never edited by guesswork.
 */
export function parseJsonc(file: string, text: string): Node | undefined {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true });
  const first = errors[0];
  if (first) {
    const reason = `${file}: ${printParseErrorCode(first.error)} at offset ${first.offset}`;
    throw new RelayError("CONFIG_PARSE", reason, { details: { file, offset: first.offset } });
  }
  return root;
}

/**
 * `text` (a JSONC object, already checked by parseJsonc) with `values` set into it, comments kept.
 * Objects merge key by key, so `{target: {url}}` replaces the url and keeps the file's
 * `target.token`; anything else (arrays, scalars) replaces what was there: `values` are what the
 * user asked for last.
 */
export function mergeIntoJsonc(text: string, values: Record<string, unknown>, at: JSONPath = []): string {
  let current = text;
  for (const [key, value] of Object.entries(values)) {
    const path = [...at, key];
    const root = parseTree(current, [], { allowTrailingComma: true });
    const existing = root && findNodeAtLocation(root, path);
    current =
      isPlainObject(value) && existing?.type === "object"
        ? mergeIntoJsonc(current, value, path)
        : applyEdits(current, modify(current, path, value, { formattingOptions: JSONC_FORMAT }));
  }
  return current;
}

// jsonc-parser's SyntaxKind is a const enum, which verbatimModuleSyntax cannot read: its values, typed.
const COMMA = 5 satisfies SyntaxKind.CommaToken;
const LINE_COMMENT = 12 satisfies SyntaxKind.LineCommentTrivia;
const WHITESPACE = 15 satisfies SyntaxKind.Trivia;
const EOF = 17 satisfies SyntaxKind.EOF;

/**
 * `text` without item `index` of the array at `path`, with its indentation, its trailing `// comment`
 * and one separating comma; every other comment stays.
 *
 * Not jsonc-parser's `modify(…, undefined)`: for the last item it deletes from the previous item
 * to the closing bracket, losing the comments there, and it cuts a quote off `["a", "b"]` (3.3.1).
 */
export function removeArrayItem(text: string, path: JSONPath, index: number): string {
  const root = parseTree(text, [], { allowTrailingComma: true });
  const items = (root && findNodeAtLocation(root, path))?.children ?? [];
  const item = items[index];
  if (!item) return text;
  const next = items[index + 1];
  const previous = items[index - 1];
  const edits: Edit[] = [];
  let start = item.offset;
  let end = item.offset + item.length;
  // One comma goes with the item: the one after it, or for the last item the one before it.
  if (next) end = (commaBetween(text, end, next.offset) ?? end - 1) + 1;
  else if (previous) {
    const comma = commaBetween(text, previous.offset + previous.length, item.offset);
    if (comma !== undefined) edits.push({ offset: comma, length: 1, content: "" });
  }
  end = afterLineComment(text, end);
  while (start > 0 && " \t".includes(text.charAt(start - 1))) start--;
  // An item on its own line takes its line break along; one inside a line leaves no double space.
  if (text.charAt(start - 1) === "\n") start -= text.charAt(start - 2) === "\r" ? 2 : 1;
  else while (" \t".includes(text.charAt(end)) && end < text.length) end++;
  edits.push({ offset: start, length: end - start, content: "" });
  return applyEdits(text, edits);
}

/** Offset of the comma token in [from, to), skipping commas inside comments. */
function commaBetween(text: string, from: number, to: number): number | undefined {
  const scanner = createScanner(text, false);
  scanner.setPosition(from);
  while (scanner.scan() !== EOF && scanner.getTokenOffset() < to) {
    if (scanner.getToken() === COMMA) return scanner.getTokenOffset();
  }
  return undefined;
}

/** `offset` moved past spaces and a `// comment` that end the same line, if there is one. */
function afterLineComment(text: string, offset: number): number {
  const scanner = createScanner(text, false);
  scanner.setPosition(offset);
  let token = scanner.scan();
  while (token === WHITESPACE) token = scanner.scan();
  return token === LINE_COMMENT ? scanner.getPosition() : offset;
}
