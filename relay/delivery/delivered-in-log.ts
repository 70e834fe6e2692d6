import { readAudit } from "../audit/index.ts";

/** A callback of the run that the audit log records as delivered. */
export interface DeliveredInLog {
  dedupeKey: string;
  /** The OpenCode session of that callback. */
  sessionId: string;
  /** Attempts made up to the delivery, as the `delivered` record says. */
  attempts: number;
}

/**
 * The callbacks of `runId` that the audit log at `auditPath` records as `delivered`, by dedupe key.
 * This is the log's word only: whoever relies on it must verify the log first (verifyAudit).
 */
export async function deliveredInLog(auditPath: string, runId: string): Promise<Map<string, DeliveredInLog>> {
  const found = new Map<string, DeliveredInLog>();
  for await (const record of readAudit(auditPath)) {
    if (record.phase !== "delivered" || record.runId !== runId) continue;
    const { dedupeKey, sessionId } = record;
    if (typeof dedupeKey !== "string" || typeof sessionId !== "string") continue;
    const attempts = typeof record.attempts === "number" ? record.attempts : 1;
    const before = found.get(dedupeKey)?.attempts ?? 0;
    found.set(dedupeKey, { dedupeKey, sessionId, attempts: Math.max(before, attempts) });
  }
  return found;
}
