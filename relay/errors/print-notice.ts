import { ERROR_CODES, type ErrorCode } from "./errors.ts";

/** What one stderr notice says: what happened, its stable code, and what to do about it. */
export interface Notice {
  /** What happened, for a person: `callback for run "run-42" (OpenCode session ses_1) not delivered`. */
  what: string;
  code: ErrorCode;
  /** What to fix. @default the code's documented hint */
  fix?: string;
}

/** Every notice starts with this, so `grep opencode-callback-relay:` finds them in OpenCode's output. */
export const NOTICE_PREFIX = "opencode-callback-relay:";

/**
 * The one line a notice prints: prefix, what happened, code, fix. Control characters (a runId is
 * a title's text) are escaped so a notice is always exactly one line and cannot drive a terminal.
 */
export function noticeLine(notice: Notice): string {
  const fix = notice.fix ?? ERROR_CODES[notice.code]?.hint ?? "";
  return `${NOTICE_PREFIX} ${oneLine(notice.what)}: ${notice.code}: ${oneLine(fix)}\n`;
}

/**
 * Print a notice on stderr (OpenCode's output, where people look, not only the audit log): for a
 * final delivery failure, a `config_error`, a `held` run. Never throws: the host must not pay for
 * a closed stderr.
 *
 * @param write where the line goes. @default process.stderr.write
 */
export function printNotice(notice: Notice, write: (line: string) => void = writeStderr): void {
  try {
    write(noticeLine(notice));
  } catch {
    // Nowhere left to say it; the audit log has the record.
  }
}

function writeStderr(line: string): void {
  process.stderr.write(line);
}

// C0/C1 controls, DEL, line and paragraph separators and bidi controls.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function oneLine(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
