import packageJson from "../../package.json" with { type: "json" };
import { RelayError } from "../../relay/index.ts";
import { type CliCommand, type CliIO, processIO } from "./cli-io.ts";
import { audit } from "./commands/audit.ts";
import { dispatch } from "./commands/dispatch.ts";
import { doctor } from "./commands/doctor.ts";
import { install } from "./commands/install.ts";
import { receive } from "./commands/receive.ts";
import { title } from "./commands/title.ts";
import { uninstall } from "./commands/uninstall.ts";
import { didYouMean } from "./did-you-mean.ts";
import { isProcessEntry } from "./is-process-entry.ts";
import { isUsageError } from "./usage-error.ts";

/** The commands `opencode-callback-relay <command>` dispatches to; each parses its own arguments. */
const COMMANDS: Readonly<Record<string, CliCommand>> = {
  install,
  uninstall,
  doctor,
  audit,
  receive,
  title,
  dispatch,
};

const USAGE = `usage: opencode-callback-relay <command> [options]

commands:
  install     copy the plugin into an OpenCode config dir, with a starter callback-relay.jsonc
  uninstall   remove the plugin from an OpenCode config dir (--purge: its configuration too)
  doctor      check that callbacks would be delivered: registrations, configuration, gateway
  audit …     review the audit log: verify its hash chain, list runs, redeliver a callback
  receive …   run a local receiver that prints the callbacks it gets (for trying things out)
  title …     print a correctly encoded tagged title; --explain one to see what the relay reads
  dispatch …  start a tagged run on an opencode serve (--wait: until it ends; exit 0 if completed)

  opencode-callback-relay <command> --help    that command's options (also: help <command> [subcommand])
  opencode-callback-relay --version
`;

/**
 * The CLI: dispatches `argv` (without node and the script) to a command and returns the exit code:
 * 0 done, 1 failed, 2 not understood (usage on stderr). It never throws, so the same function
 * serves the bin and in-process tests.
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      io.stderr(USAGE);
      return 2;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      if (rest[0] === undefined) {
        io.stdout(USAGE);
        return 0;
      }
      // `help audit show` is `audit show --help`.
      const topic = lookup(rest[0]);
      if (topic) return await topic([...rest.slice(1), "--help"], io);
      io.stderr(unknownCommand(rest[0]));
      return 2;
    }
    if (name === "--version" || name === "-v") {
      io.stdout(`${packageJson.version}\n`);
      return 0;
    }
    const command = lookup(name);
    if (!command) {
      io.stderr(unknownCommand(name));
      return 2;
    }
    return await command(rest, io);
  } catch (error) {
    return reportFailure(error, name, io);
  }
}

function unknownCommand(name: string): string {
  const guess = didYouMean(name, Object.keys(COMMANDS));
  const hint = guess === undefined ? "" : `\n\ndid you mean this?\n  opencode-callback-relay ${guess}`;
  return `opencode-callback-relay: unknown command ${JSON.stringify(name)}${hint}\n\n${USAGE}`;
}

function lookup(name: string): CliCommand | undefined {
  // Object.hasOwn: "toString" or "__proto__" must be unknown commands, not inherited properties.
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function reportFailure(error: unknown, name: string | undefined, io: CliIO): number {
  const prefix = `opencode-callback-relay${name === undefined ? "" : ` ${name}`}`;
  if (isUsageError(error)) {
    io.stderr(`${prefix}: ${error.message}\nsee: opencode-callback-relay ${name ?? ""} --help\n`);
    return 2;
  }
  if (error instanceof RelayError) {
    io.stderr(`${prefix}: ${error.code}: ${error.message}\n  hint: ${error.hint}\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`${prefix}: ${message}\n`);
  }
  // The stack is for bug reports, not for everyday failures such as a missing file.
  if (io.env.DEBUG && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  return 1;
}

if (isProcessEntry(import.meta.url)) {
  // exitCode, not exit(): let stdout drain when it is a pipe.
  process.exitCode = await main(process.argv.slice(2), processIO());
}
