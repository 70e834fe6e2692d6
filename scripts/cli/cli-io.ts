/**
 * What a CLI command gets from the process, so tests run commands in-process against
 * real files and read what they printed.
 */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Colour only when stdout is a TTY and NO_COLOR is unset. */
  color: boolean;
  /** The terminal's width when stdout is one; tables fit 80 columns otherwise. */
  columns?: number;
}

/** A command: parses its own arguments (node:util parseArgs), returns the exit code. */
export type CliCommand = (args: string[], io: CliIO) => Promise<number>;

/** The CliIO of the running process. */
export function processIO(): CliIO {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    ...(process.stdout.isTTY && process.stdout.columns > 0 ? { columns: process.stdout.columns } : {}),
  };
}

/**
 * Whose environment `CliIO.env` is, for messages about `{env:NAME}`: the CLI runs in a shell that
 * may lack what `opencode serve` has, so "not set in the OpenCode process" would send people to
 * the wrong place.
 */
export const CLI_ENV_OWNER = "this shell (opencode-callback-relay's own; `opencode serve` needs it too)";
