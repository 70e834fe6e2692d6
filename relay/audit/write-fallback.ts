import type { AuditWriter, QueuedRecord } from "./audit-writer.ts";
import { errno, type Notice } from "./once-notice.ts";

/** A queued record and whether its batch already wrote it to the log. */
export interface FallbackCandidate extends QueuedRecord {
  written: boolean;
}

/**
 * Send the records of a batch the log at `path` could not take (and did not write) to their
 * fallback log, or to stderr when they have none: an AUDIT_UNWRITABLE notice says so once per
 * errno. The fallback is a log of its own (chained, verifiable), with nowhere further to go.
 * `writerFor` is the process-wide writer registry (passed in: the writer module calls this one).
 */
export async function writeFallback(
  path: string,
  batch: readonly FallbackCandidate[],
  error: unknown,
  { notice, writerFor }: { notice: Notice; writerFor: (path: string) => AuditWriter },
): Promise<void> {
  const code = errno(error);
  const target = batch[0]?.fallbackPath;
  notice(
    `unwritable:${code}`,
    `AUDIT_UNWRITABLE: cannot write the audit log ${path} (${code}: ${(error as Error)?.message ?? error}); records go to ${target ?? "stderr"}`,
  );
  const byTarget = new Map<string | undefined, FallbackCandidate[]>();
  for (const p of batch) {
    if (p.written) continue;
    const list = byTarget.get(p.fallbackPath) ?? [];
    list.push(p);
    byTarget.set(p.fallbackPath, list);
  }
  for (const [fallbackPath, list] of byTarget) {
    if (fallbackPath !== undefined && fallbackPath !== path) {
      const writer = writerFor(fallbackPath);
      await Promise.all(
        list.map((p) =>
          writer.enqueue({
            body: { ...p.body, fallbackFor: path, fallbackCode: code },
            maxBytes: p.maxBytes,
            fallbackPath: undefined,
          }),
        ),
      );
    } else {
      process.stderr.write(list.map((p) => `${JSON.stringify({ ...p.body, fallbackFor: path })}\n`).join(""));
    }
  }
}
