import type { CliIO } from "../../scripts/cli/cli-io.ts";

/** A CliIO that records what a command printed, for in-process CLI tests. */
export interface CapturedIO extends CliIO {
  out: () => string;
  err: () => string;
}

/** A CliIO over `cwd` and `env` only (never the real process environment), recording stdout and stderr. */
export function captureIO(cwd: string, env: Record<string, string | undefined> = {}): CapturedIO {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    env,
    cwd,
    color: false,
    out: () => out.join(""),
    err: () => err.join(""),
  };
}
