import type { AuditRecord } from "./audit-record.ts";
import { openAuditSnapshot } from "./audit-snapshot.ts";
import { MAX_LINE_BYTES, parseAuditLine } from "./parse-audit-line.ts";
import { readLines } from "./read-lines.ts";

/** Options of `readAudit`. */
export interface ReadAuditOptions {
  /**
   * Called for a line that is not a whole record (torn, edited into invalid JSON, past the size or
   * depth bounds), or a whole file that is a symbolic link (line 0); such lines are skipped. `verifyAudit` is where they are reported as a problem.
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
    for (const file of snapshot.refused) options.onSkipped?.({ file, line: 0 });
    for (const file of snapshot.files) {
      for await (const { bytes, line, complete, tooLong } of readLines(
        file.handle,
        file.size,
        MAX_LINE_BYTES,
      )) {
        // A record whose hash no longer matches is still shown; verify is where it is reported.
        const { record } = parseAuditLine(bytes, complete, tooLong, { verify: false });
        if (record !== undefined) yield record;
        else options.onSkipped?.({ file: file.path, line });
      }
    }
  } finally {
    await snapshot.close();
  }
}
