import type { ErrorCode } from "../errors/index.ts";
import type { AuditRecord } from "./audit-record.ts";
import { HASH_KEY, hashPrefix, hashRecordV1, isAuditRecordShape } from "./hash-record.ts";

/**
 * Bounds on a line a reader will look at. The writer never produces more (audit-writer.ts stubs a
 * record whose line would be longer; redact.ts cuts nesting at 32 levels), so a line past them was
 * not written by the relay, and reading it must not cost unbounded memory or stack.
 */
export const MAX_LINE_BYTES = 1 << 20; // 1 MiB
export const MAX_LINE_DEPTH = 64;

/** What is wrong with a line on its own (before the chain around it is looked at). */
export interface LineFault {
  kind: "truncated" | "malformed" | "edited";
  code: ErrorCode;
  reason: string;
}

/** A line read back: its record when it has a record's shape, and its fault if any. */
export interface ParsedLine {
  record?: AuditRecord;
  fault?: LineFault;
}

const HEX64 = /^[0-9a-f]{64}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Read one line of an audit log and check it on its own: bounded in size and depth, valid UTF-8,
 * a record; with `verify` (the default), a v2 record must also be its own canonical serialization
 * with `hash` over its exact bytes (hash-record.ts), a v1 record its hash over the parsed record.
 * Readers that only show records pass `verify: false` and skip the hashing. The MAC and the links
 * between records are the verifier's business.
 */
export function parseAuditLine(
  bytes: Buffer,
  complete: boolean,
  tooLong = false,
  { verify = true }: { verify?: boolean } = {},
): ParsedLine {
  if (tooLong || bytes.length > MAX_LINE_BYTES)
    return fault("malformed", "AUDIT_LINE_TOO_LONG", `the line is over ${MAX_LINE_BYTES} bytes`);
  if (!complete)
    return fault("truncated", "AUDIT_CHAIN_BROKEN", "the last line is cut short (a torn write?)");
  if (nestsDeeper(bytes, MAX_LINE_DEPTH))
    return fault("malformed", "AUDIT_LINE_TOO_DEEP", `the line nests deeper than ${MAX_LINE_DEPTH} levels`);
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch {
    return fault("malformed", "AUDIT_CHAIN_BROKEN", "not a JSON audit record");
  }
  if (!isAuditRecordShape(value)) return fault("malformed", "AUDIT_CHAIN_BROKEN", "not a JSON audit record");
  const record = value;
  if (!verify) return { record };
  if (record.v === 1) {
    return hashRecordV1(record) === record.hash
      ? { record }
      : {
          record,
          ...fault("edited", "AUDIT_CHAIN_BROKEN", `record seq ${record.seq} does not match its hash`),
        };
  }
  if (record.v !== 2)
    return { record, ...fault("malformed", "AUDIT_CHAIN_BROKEN", `unknown schema version ${record.v}`) };
  const keys = Object.keys(record);
  const macLast = keys.at(-1) === "mac";
  const tail = `${HASH_KEY}${JSON.stringify(record.hash)}${macLast ? `,"mac":${JSON.stringify(record.mac)}` : ""}}`;
  if (
    JSON.stringify(record) !== text ||
    keys.at(macLast ? -2 : -1) !== "hash" ||
    !HEX64.test(record.hash) ||
    (macLast && !HEX64.test(record.mac ?? "")) ||
    !text.endsWith(tail)
  ) {
    return {
      record,
      ...fault(
        "edited",
        "AUDIT_LINE_NOT_CANONICAL",
        `record seq ${record.seq} is not in the form the writer writes`,
      ),
    };
  }
  // Canonical and ASCII-tailed: the hashed prefix is the bytes before the tail.
  return hashPrefix(bytes.subarray(0, bytes.length - tail.length)) === record.hash
    ? { record }
    : {
        record,
        ...fault("edited", "AUDIT_CHAIN_BROKEN", `record seq ${record.seq} does not match its hash`),
      };
}

function fault(kind: LineFault["kind"], code: ErrorCode, reason: string): { fault: LineFault } {
  return { fault: { kind, code, reason } };
}

/** Whether `{`/`[` nest deeper than `max` outside strings: a scan, so no parser recursion is risked. */
function nestsDeeper(bytes: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
