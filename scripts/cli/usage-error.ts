/**
 * A command line the CLI cannot act on (unknown flag, conflicting flags). The dispatcher turns it
 * into usage on stderr and exit 2, apart from failures while acting (exit 1).
 */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Whether a throw is a usage mistake: a UsageError, or one of node:util parseArgs's own errors
 * (`ERR_PARSE_ARGS_UNKNOWN_OPTION`, …), so every command gets exit 2 for a bad flag without
 * wrapping parseArgs itself.
 */
export function isUsageError(error: unknown): error is Error {
  if (error instanceof UsageError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}
