import { parseArgs as nodeParseArgs, type ParseArgsConfig } from "node:util";
import { didYouMean } from "./did-you-mean.ts";
import { UsageError } from "./usage-error.ts";

/**
 * node:util `parseArgs` (same config, same result), with an unknown flag answered the way gh does:
 * `unknown flag --jsno; did you mean --json?`. A drop-in, so each command keeps its own options table.
 */
export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof nodeParseArgs<T>> {
  try {
    return nodeParseArgs(config);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw error;
    const given = unknownFlag(error as Error, config.args ?? []);
    const flags = Object.entries(config.options ?? {}).flatMap(([name, option]) => [
      `--${name}`,
      ...(option.short === undefined ? [] : [`-${option.short}`]),
    ]);
    const guess = given === undefined ? undefined : didYouMean(given, flags);
    throw new UsageError(
      `unknown flag ${given ?? "(unreadable)"}${guess === undefined ? "" : `; did you mean ${guess}?`}`,
    );
  }
}

/** The flag parseArgs refused: the argument it quotes, else the first argument no option names. */
function unknownFlag(error: Error, args: readonly string[]): string | undefined {
  const quoted = /'(-{1,2}[^']+)'/.exec(error.message)?.[1];
  return quoted ?? args.find((arg) => arg.startsWith("-"));
}
