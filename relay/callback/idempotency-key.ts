import { createHash } from "node:crypto";

/**
 * The idempotency key of one callback: stable for its dedupe key (`sessionId|runId`), so every
 * retry, restart and redelivery sends the same one. 68 characters of `[a-z0-9_]`: safe in a header,
 * well under OpenClaw's 256-character limit, and it does not leak the session or run ids.
 */
export function idempotencyKey(dedupeKey: string): string {
  return `ocr_${createHash("sha256").update(dedupeKey, "utf8").digest("hex")}`;
}
