import { secretPatternSource } from "./secret-pattern.ts";

/**
 * The audit log's second line of defence against secrets: callers are meant to pass none, but
 * a header map or an error's `cause` can carry one in by accident, and the log lives for years.
 */

export const REDACTED = "[redacted]";

// Compared after lower-casing and removing `-`, `_`, spaces and dots, so `Authorization`,
// `x-api-key`, `webhook_signature` and `setCookie` all match. `token` only as a suffix: a key
// such as `tokens` (token usage counts) is not a secret, `accessToken` is.
const SECRET_KEY_PARTS = [
  "authorization",
  "secret",
  "password",
  "passwd",
  "signature",
  "cookie",
  "apikey",
  "signingkey",
  "privatekey",
  "credential",
];

/** True for a key whose value must never be written (case-insensitive). */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_ .]/g, "");
  return k.endsWith("token") || SECRET_KEY_PARTS.some((part) => k.includes(part));
}

// Credentials that give themselves away by shape, wherever they are quoted.
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g;
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+(:[^/@\s]*)?@/gi;
const MAX_DEPTH = 32;

/** The secrets matcher of one secrets list, and the literals it was built from. */
interface SecretsMatcher {
  /** The list as passed (a copy): the next call with the same strings reuses this matcher. */
  source: readonly string[];
  key: string;
  matcher: RegExp | null;
  literals: readonly string[];
  /** Keys scrubbed with this matcher: records reuse a few dozen keys. */
  keys: Map<string, string>;
}

/** The last secrets list seen and its matcher: the audit log passes the same list on every record. */
let cached: SecretsMatcher = { source: [], key: "", matcher: null, literals: [], keys: new Map() };

/** One global regex for every secret, longest first so a secret that contains another goes whole. */
function secretsMatcher(secrets: readonly string[]): SecretsMatcher {
  if (sameStrings(secrets, cached.source)) return cached;
  const literals = [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  const key = literals.join("\u0000");
  if (key !== cached.key) {
    cached = {
      source: [...secrets],
      key,
      matcher: literals.length === 0 ? null : new RegExp(literals.map(secretPatternSource).join("|"), "g"),
      literals,
      keys: new Map(),
    };
  } else {
    cached = { ...cached, source: [...secrets] };
  }
  return cached;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const KEYS_CACHED = 1_024;

/**
 * Every escaped form of a character (secret-pattern.ts) holds one of these: JSON `\`, URL `%` (or
 * `+` for a space), HTML `&`. A text with none of them can hold a secret only written raw.
 */
const ESCAPE_MARKS = /[\\%&+]/;

/** Whether the secrets regex could match `text` at all: most audited strings hold no secret. */
function mayHoldSecret(text: string, secrets: SecretsMatcher): boolean {
  if (secrets.matcher === null) return false;
  if (ESCAPE_MARKS.test(text)) return true;
  for (const literal of secrets.literals) if (text.includes(literal)) return true;
  return false;
}

/** isSecretKey of the keys seen so far: records reuse a few dozen keys, each lowered and searched. */
const secretKeys = new Map<string, boolean>();
const SECRET_KEYS_CACHED = 1_024;

function isSecretKeyCached(key: string): boolean {
  let secret = secretKeys.get(key);
  if (secret === undefined) {
    secret = isSecretKey(key);
    if (secretKeys.size >= SECRET_KEYS_CACHED) secretKeys.clear();
    secretKeys.set(key, secret);
  }
  return secret;
}

/**
 * A JSON-data copy of `value` with secret-looking keys dropped at every depth and every
 * occurrence of each literal in `secrets` (inside any string, keys included), raw or
 * JSON-escaped, URL-encoded or HTML-escaped (secret-pattern.ts), replaced by "[redacted]". Non-JSON values are made JSON (Date → ISO string, Error → {name, message, code},
 * bigint → string, NaN/Infinity → null, cycles → "[circular]") so the hash is computed over
 * exactly what a reader parses back.
 */
export function redact(value: unknown, secrets: readonly string[] = []): unknown {
  // Module-level helpers and an array of the objects being walked, not closures and a Set made
  // anew for every record the audit log redacts.
  return walk(value, 0, secretsMatcher(secrets), []);
}

/**
 * redact() of a plain object's fields, written into `out` (which holds what goes first) instead of
 * into a copy that is then copied again: the audit log's path, once per record. A field whose clean
 * key is in `skip` is left out, as redact() then a filter would; so is `__proto__` (redact()'s copy
 * never holds it as a field). Anything but a plain object goes through redact().
 */
export function redactInto(
  out: Record<string, unknown>,
  value: object,
  secrets: readonly string[],
  skip: ReadonlySet<string>,
): void {
  const matcher = secretsMatcher(secrets);
  if (Object.getPrototypeOf(value) !== Object.prototype) {
    const clean = walk(value, 0, matcher, []);
    if (clean === null || typeof clean !== "object") return;
    for (const key of Object.keys(clean)) {
      if (!skip.has(key) && key !== "__proto__") out[key] = (clean as Record<string, unknown>)[key];
    }
    return;
  }
  const source = value as Record<string, unknown>;
  const parents: object[] = [value];
  for (const key of Object.keys(source)) {
    if (isSecretKeyCached(key)) continue;
    const cleanKey = scrubKey(key, matcher);
    if (skip.has(cleanKey) || cleanKey === "__proto__") continue;
    const clean = walk(source[key], 1, matcher, parents);
    if (clean !== undefined) out[cleanKey] = clean;
  }
}

/**
 * Each regex runs only where it could match (the literals it needs are there): an audit record's
 * strings are short ids that hold none, and the secrets regex tries every form at every position.
 */
function scrub(text: string, matcher: SecretsMatcher): string {
  let out = mayHoldSecret(text, matcher) ? text.replace(matcher.matcher as RegExp, REDACTED) : text;
  if (out.includes("Bearer")) out = out.replace(BEARER, `$1 ${REDACTED}`);
  if (out.includes("://")) out = out.replace(URL_USERINFO, `$1${REDACTED}@`);
  return out;
}

function scrubKey(key: string, matcher: SecretsMatcher): string {
  let clean = matcher.keys.get(key);
  if (clean === undefined) {
    clean = scrub(key, matcher);
    if (matcher.keys.size >= KEYS_CACHED) matcher.keys.clear();
    matcher.keys.set(key, clean);
  }
  return clean;
}

/** redact() of `v` at `depth`, inside the objects `parents` (a cycle comes back to one of them). */
function walk(v: unknown, depth: number, matcher: SecretsMatcher, parents: object[]): unknown {
  if (typeof v === "string") return scrub(v, matcher);
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "boolean" || v === null) return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof v !== "object") return undefined; // functions, symbols, undefined
  if (parents.includes(v)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  parents.push(v);
  try {
    if (Array.isArray(v)) return v.map((item) => walk(item, depth + 1, matcher, parents) ?? null);
    const source: Record<string, unknown> =
      v instanceof Error
        ? {
            name: v.name,
            message: v.message,
            ...("code" in v ? { code: (v as { code: unknown }).code } : {}),
          }
        : (v as Record<string, unknown>);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(source)) {
      if (isSecretKeyCached(key)) continue;
      const clean = walk(source[key], depth + 1, matcher, parents);
      if (clean !== undefined) out[scrubKey(key, matcher)] = clean;
    }
    return out;
  } finally {
    parents.pop();
  }
}
