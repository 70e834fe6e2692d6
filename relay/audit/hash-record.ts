import * as crypto from "node:crypto";
import { createHash } from "node:crypto";
import type { AuditRecord } from "./audit-record.ts";

/** `prev` of the first record of a log. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * How records are hashed (schema v2): over the **exact bytes** of the line, not over a parsed
 * record. A v2 line is `JSON.stringify` of its record, with `hash` (then `mac`, when keyed) as the
 * last keys:
 *
 *   {"v":2,"seq":7,…,"prev":"<64 hex>","hash":"<64 hex>"[,"mac":"<64 hex>"]}
 *
 * `hash` is sha256 (hex) of the bytes before `,"hash":`. A reader accepts a line only when it is
 * byte for byte the canonical serialization of what it parses to (`JSON.stringify(JSON.parse(line))
 * === line`), so two lines that parse alike (a duplicated key, white space, `\u0041` for `A`) cannot
 * share a hash, and what verify proves is what every JSON parser reads.
 *
 * v1 records (written before) were hashed over sorted-key JSON of the parsed record without
 * `hash`; `hashRecordV1` keeps that rule so old logs still verify.
 */

/** The key that introduces the hash: everything before it is hashed. */
export const HASH_KEY = ',"hash":';

/** `crypto.hash` (Node ≥ 20.12): one call instead of a Hash object per record; absent in some runtimes. */
const oneShot: typeof crypto.hash | undefined = crypto.hash;

/** sha256 (hex) of a v2 line's hashed prefix (`{"v":2,…,"prev":"…"`). */
export function hashPrefix(prefix: Buffer | string): string {
  return oneShot === undefined
    ? createHash("sha256").update(prefix).digest("hex")
    : oneShot("sha256", prefix, "hex");
}

/**
 * Seal a v2 record: set `prev`, hash the exact bytes of its serialization, and return the JSONL
 * line (with its newline). Fields are laid out for people (version, seq, time and phase first,
 * chain last). `mac`, when given, turns the hash into the record's MAC (see audit-key.ts).
 */
export function sealRecord(
  body: Omit<AuditRecord, "prev" | "hash" | "mac">,
  prev: string,
  mac?: (hash: string) => string,
): { record: AuditRecord; line: string } {
  return sealAt(body, body.seq as number, prev, mac);
}

/** The fields a sealed line begins with, in this order. */
const LEAD = new Set(["v", "seq", "ts", "phase"]);

/**
 * sealRecord of `body` given the `seq` it gets (the writer's path: no copy of the body to set it).
 * The record is built once, in the line's order: the same bytes as serializing
 * `{ v, seq, ts, phase, ...rest, prev }`, without the copies that spreading makes of every record.
 */
export function sealAt(
  body: Omit<AuditRecord, "seq" | "prev" | "hash" | "mac">,
  seq: number,
  prev: string,
  mac?: (hash: string) => string,
): { record: AuditRecord; line: string } {
  const unsealed: Record<string, unknown> = { v: body.v, seq, ts: body.ts, phase: body.phase };
  const fields = body as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(fields)) {
    if (LEAD.has(key)) continue;
    // Assigning __proto__ would set the prototype; a spread makes it a field like any other.
    if (key === "__proto__") Object.defineProperty(unsealed, key, OWN(fields[key]));
    else unsealed[key] = fields[key];
  }
  unsealed.prev = prev;
  const closed = closeLine(JSON.stringify(unsealed).slice(0, -1), mac);
  unsealed.hash = closed.hash;
  if (closed.mac !== undefined) unsealed.mac = closed.mac;
  return { record: unsealed as AuditRecord, line: closed.line };
}

/**
 * sealAt's line and hash for a body laid out as a line begins, `{ v: 2, ts, phase, …the rest }`
 * (the audit log queues records so): the body itself is serialized once and `seq` spliced in after
 * `v`, the same bytes as sealAt without a copy of the record in the line's order. A body laid out
 * otherwise (an integer-like key, which objects list first; another version) goes through sealAt.
 */
export function sealLine(
  body: Omit<AuditRecord, "seq" | "prev" | "hash" | "mac">,
  seq: number,
  prev: string,
  mac?: (hash: string) => string,
): { hash: string; line: string } {
  const json = JSON.stringify(body);
  const lead = `{"v":2,"ts":${JSON.stringify(body.ts)},"phase":`;
  if (!Number.isSafeInteger(seq) || !/^[0-9a-f]{64}$/.test(prev) || !json.startsWith(lead)) {
    const sealed = sealAt(body, seq, prev, mac);
    return { hash: sealed.record.hash, line: sealed.line };
  }
  // `{"v":2,` is 7 characters: what follows it is `"ts":…` to the end of the body.
  const { hash, line } = closeLine(`{"v":2,"seq":${seq},${json.slice(7, -1)},"prev":"${prev}"`, mac);
  return { hash, line };
}

/**
 * The line of a record serialized up to its `prev` (`prefix`, without the closing brace): its hash
 * over exactly those bytes, and the MAC of that hash when keyed, appended.
 */
function closeLine(
  prefix: string,
  mac: ((hash: string) => string) | undefined,
): { hash: string; mac: string | undefined; line: string } {
  const hash = hashPrefix(prefix);
  const sealed = mac === undefined ? undefined : mac(hash);
  const tail = sealed === undefined ? "" : `,"mac":"${sealed}"`;
  return { hash, mac: sealed, line: `${prefix}${HASH_KEY}"${hash}"${tail}}\n` };
}

const OWN = (value: unknown): PropertyDescriptor => ({
  value,
  enumerable: true,
  writable: true,
  configurable: true,
});

/**
 * JSON with object keys sorted at every depth and no white space: the v1 hashing rule. Callers
 * bound the depth first (parse-audit-line.ts): this recurses.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const object = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(object).sort()) {
    if (object[key] === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(object[key])}`);
  }
  return `{${parts.join(",")}}`;
}

/** v1 only: sha256 (hex) of the canonical JSON of `record` without its `hash` field. */
export function hashRecordV1(record: Readonly<Record<string, unknown>>): string {
  const { hash: _ignored, ...rest } = record;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** True when a parsed line has the fields every written record has. */
export function isAuditRecordShape(value: unknown): value is AuditRecord {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.v === "number" &&
    typeof r.seq === "number" &&
    Number.isSafeInteger(r.seq) &&
    typeof r.ts === "string" &&
    typeof r.phase === "string" &&
    typeof r.prev === "string" &&
    typeof r.hash === "string" &&
    (r.mac === undefined || typeof r.mac === "string")
  );
}
