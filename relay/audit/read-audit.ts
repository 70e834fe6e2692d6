import type { AuditRecord } from "./audit-record.ts";
import { openAuditSnapshot } from "./audit-snapshot.ts";
import { isAuditRecordShape } from "./hash-record.ts";
import { readLines } from "./read-lines.ts";

/** Options of `readAudit`. */
export interface ReadAuditOptions {
  /**
   * Called for a line that is not a whole record (torn, edited into invalid JSON); such lines
   * are skipped. `verifyAudit` is where they are reported as a problem.
   */
  onSkipped?: (where: { file: string; line: number }) => void;
}

/**
 * Stream the records of the audit log at `path` across its rotated files and the active one,
 * oldest first. Reads a snapshot (appends after the call are not included) chunk by chunk, so a
 * log of millions of records never sits in memory. Yields nothing when the log does not exist.
 */
export async function* readAudit(path: string, options: ReadAuditOptions = {}): AsyncGenerator<AuditRecord> {
  const snapshot = await openAuditSnapshot(path);
  try {
    for (const file of snapshot.files) {
      for await (const { text, line, complete } of readLines(file.handle, file.size)) {
        let record: unknown;
        try {
          record = complete ? JSON.parse(text) : undefined;
        } catch {
          record = undefined;
        }
        if (isAuditRecordShape(record)) yield record;
        else options.onSkipped?.({ file: file.path, line });
      }
    }
  } finally {
    await snapshot.close();
  }
}
