/**
 * A strict JSON5 reader for the one JSON5 file doctor reads: the OpenClaw gateway's
 * `openclaw.json`. Written here rather than pulled in (the `json5` package) because the CLI bundle
 * needs only reading, and a ~180-line parser with its own tests is less to ship and audit.
 * It accepts what JSON5 1.0 allows — comments, trailing commas, unquoted identifier keys,
 * single-quoted strings, hex, leading/trailing dots, `+`, Infinity/NaN, escaped line breaks —
 * and refuses everything else with the line and column (no guessing, no partial values).
 */

/** A JSON5 syntax error at a 1-based line and column. */
export class Json5Error extends Error {
  override readonly name = "Json5Error";
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${message} at line ${line}, column ${column}`);
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "0": "\0",
  "'": "'",
  '"': '"',
  "\\": "\\",
  "/": "/",
};
const LINE_BREAKS = new Set(["\n", "\r", "\u2028", "\u2029"]);
const SPACE = /[\t\v\f \u00a0\ufeff\n\r\u2028\u2029\p{Zs}]/u;
const ID_START = /[\p{L}\p{Nl}$_]/u;
const ID_PART = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}$_\u200c\u200d]/u;
const NUMBER = /^[+-]?(?:Infinity|NaN|0[xX][0-9a-fA-F]+|(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)/;

/**
 * Parse JSON5 text into a plain value. Objects are created without a prototype chain to abuse:
 * a `__proto__` key is an own property, never the object's prototype.
 *
 * @throws Json5Error on any syntax error, with line and column.
 */
export function parseJson5(text: string): unknown {
  let at = 0;

  const fail = (message: string, offset = at): never => {
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    throw new Json5Error(message, line, offset - before.lastIndexOf("\n"));
  };

  const skip = () => {
    for (;;) {
      const c = text[at];
      if (c !== undefined && SPACE.test(c)) at++;
      else if (text.startsWith("//", at)) {
        while (at < text.length && !LINE_BREAKS.has(text[at]!)) at++;
      } else if (text.startsWith("/*", at)) {
        const end = text.indexOf("*/", at + 2);
        if (end < 0) fail("unterminated comment");
        at = end + 2;
      } else return;
    }
  };

  const string = (): string => {
    const quote = text[at++]!;
    let out = "";
    for (;;) {
      const c = text[at];
      if (c === undefined) return fail("unterminated string");
      at++;
      if (c === quote) return out;
      if (c === "\n" || c === "\r") fail("line break in a string (escape it with \\)", at - 1);
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = text[at++];
      if (e === undefined) return fail("unterminated string");
      if (e === "\r") {
        if (text[at] === "\n") at++;
      } else if (LINE_BREAKS.has(e)) {
        // An escaped line break continues the string.
      } else if (e === "x" || e === "u") {
        const digits = text.slice(at, at + (e === "x" ? 2 : 4));
        if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== (e === "x" ? 2 : 4)) fail("bad escape");
        out += String.fromCharCode(Number.parseInt(digits, 16));
        at += digits.length;
      } else if (e === "0" && /\d/.test(text[at] ?? "")) {
        fail("octal escapes are not JSON5", at - 1);
      } else if (/[1-9]/.test(e)) {
        fail("a digit cannot be escaped", at - 1);
      } else out += ESCAPES[e] ?? e;
    }
  };

  const identifier = (): string => {
    const start = at;
    while (at < text.length && (at === start ? ID_START : ID_PART).test(text[at]!)) at++;
    if (at === start) fail("expected a key");
    return text.slice(start, at);
  };

  const value = (): unknown => {
    skip();
    const c = text[at];
    if (c === "{") return object();
    if (c === "[") return array();
    if (c === '"' || c === "'") return string();
    for (const [word, result] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, at) && !ID_PART.test(text[at + word.length] ?? "")) {
        at += word.length;
        return result;
      }
    }
    const match = NUMBER.exec(text.slice(at));
    if (match === null || ID_PART.test(text[at + match[0].length] ?? "")) return fail("unexpected character");
    at += match[0].length;
    return numberOf(match[0]);
  };

  const object = (): Record<string, unknown> => {
    at++;
    const out = Object.create(null) as Record<string, unknown>;
    for (;;) {
      skip();
      if (text[at] === "}") {
        at++;
        return out;
      }
      const key = text[at] === '"' || text[at] === "'" ? string() : identifier();
      skip();
      if (text[at++] !== ":") fail("expected ':'", at - 1);
      out[key] = value();
      skip();
      if (text[at] === ",") at++;
      else if (text[at] !== "}") fail("expected ',' or '}'");
    }
  };

  const array = (): unknown[] => {
    at++;
    const out: unknown[] = [];
    for (;;) {
      skip();
      if (text[at] === "]") {
        at++;
        return out;
      }
      out.push(value());
      skip();
      if (text[at] === ",") at++;
      else if (text[at] !== "]") fail("expected ',' or ']'");
    }
  };

  const result = value();
  skip();
  if (at < text.length) fail("unexpected text after the value");
  return result;
}

function numberOf(literal: string): number {
  const sign = literal.startsWith("-") ? -1 : 1;
  const body = literal.replace(/^[+-]/, "");
  if (body === "Infinity") return sign * Number.POSITIVE_INFINITY;
  if (body === "NaN") return Number.NaN;
  if (/^0[xX]/.test(body)) return sign * Number.parseInt(body.slice(2), 16);
  return sign * Number(body);
}
