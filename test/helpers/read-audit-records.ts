import { readFileSync } from "node:fs";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";

/**
 * The audit log's records as they are now, for tests polling a log a live plugin writes. Only
 * newline-terminated lines are whole records (the last one may be mid-write); each of those
 * must parse, so a torn line inside the log fails the test. A missing log is no records.
 */
export function readAuditRecords(path: string): AuditRecord[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const lines = text.split("\n");
  lines.pop(); // "" after the last newline, or a record still being written
  return lines.map((line) => JSON.parse(line) as AuditRecord);
}
