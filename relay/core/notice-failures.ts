import type { AuditInput } from "../audit/index.ts";
import { ERROR_CODES, type ErrorCode, type Notice, printNotice } from "../errors/index.ts";

/**
 * A `record` that also prints one stderr line (errors/print-notice.ts) for every `failed` record:
 * a callback given up for good (final 4xx, retries exhausted, expired) or work that broke. The
 * audit log says it in full; OpenCode's output is where people notice it.
 *
 * @param write where lines go. @default process.stderr.write
 */
export function noticeFailures(
  record: (input: AuditInput) => Promise<void>,
  write?: (line: string) => void,
): (input: AuditInput) => Promise<void> {
  return (input) => {
    if (input.phase === "failed") {
      const notice = failureNotice(input);
      if (notice !== null) printNotice(notice, write);
    }
    return record(input);
  };
}

/** The notice for a `failed` record, or null when it carries no known code. */
export function failureNotice(input: AuditInput): Notice | null {
  const code = input.code;
  if (code === undefined || !(code in ERROR_CODES)) return null;
  const run = typeof input.runId === "string" ? `run ${JSON.stringify(input.runId)}` : "a run";
  const session = typeof input.sessionId === "string" ? ` (OpenCode session ${input.sessionId})` : "";
  const lastCode = input.lastCode as ErrorCode | undefined;
  // Exhausted or expired says little by itself: the last attempt's code names what to fix.
  const last = lastCode !== undefined && lastCode !== code && lastCode in ERROR_CODES ? lastCode : undefined;
  const attempts = typeof input.attempts === "number" ? ` after ${input.attempts} attempt(s)` : "";
  const what = `callback for ${run}${session} not delivered${attempts}${last ? ` (last ${last})` : ""}`;
  const hint = typeof input.hint === "string" ? input.hint : ERROR_CODES[code].hint;
  // The last attempt's hint is the fix; the redeliver command below says what comes after it.
  const fix = last === undefined ? hint : ERROR_CODES[last].hint;
  const next =
    typeof input.runId === "string" && ERROR_CODES[code].kind === "delivery"
      ? `; when fixed: opencode-callback-relay audit redeliver ${shellWord(input.runId)}`
      : "";
  return { what, code, fix: `${fix}${next}` };
}

/** A runId as one shell word (run ids may hold spaces or quotes). */
function shellWord(text: string): string {
  return /^[\w.:@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
