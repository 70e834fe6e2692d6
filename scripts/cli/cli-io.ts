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
  /** All of standard input (`dispatch --prompt -`); absent: the process's stdin. */
  readStdin?: () => Promise<string>;
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
 * How configuration messages name the environment the CLI read `{env:…}` from: its own shell's,
 * which is often not the one `opencode serve` runs in.
 */
export const CLI_ENVIRONMENT =
  "this shell's environment (the CLI reads its own; `opencode serve` needs the variable in its own too)";
