import { createHash } from "node:crypto";
import type { AuditRecord } from "./audit-record.ts";

/** `prev` of the first record of a log. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * JSON with object keys sorted at every depth and no white space, so a record hashes the same
 * however its line was laid out. Input must already be JSON data (see `toJsonData`): the hash is
 * computed over exactly what a reader gets back from `JSON.parse`.
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

/** sha256 (hex) of the canonical JSON of `record` without its `hash` field. */
export function hashRecord(record: Readonly<Record<string, unknown>>): string {
  const { hash: _ignored, ...rest } = record;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/**
 * Seal a record: set `prev`, compute `hash`, and return the JSONL line (with its newline). Fields
 * are laid out for people (version, seq, time and phase first, chain last); the hash does not
 * depend on the order.
 */
export function sealRecord(
  body: Omit<AuditRecord, "prev" | "hash">,
  prev: string,
): { record: AuditRecord; line: string } {
  const { v, seq, ts, phase, ...rest } = body;
  const unsealed = { v, seq, ts, phase, ...rest, prev };
  const hash = hashRecord(unsealed);
  const record = { ...unsealed, hash } as AuditRecord;
  return { record, line: `${JSON.stringify(record)}\n` };
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
    typeof r.hash === "string"
  );
}
