import { RelayError } from "../errors/index.ts";

/**
 * The STATE_UNWRITABLE error for a failed write under the state dir: `what` names the store
 * ("the outbox", "the dedupe store", "a lease"), `dir` where it lives. A RelayError passes through
 * unchanged, so a store that wraps a helper's failure does not wrap it twice.
 */
export function stateUnwritable(what: string, dir: string, cause: unknown): RelayError {
  if (cause instanceof RelayError) return cause;
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new RelayError(
    "STATE_UNWRITABLE",
    `cannot write ${what} in ${dir}${errno === undefined ? "" : ` (${errno})`}`,
    {
      cause,
      details: { path: dir, ...(errno === undefined ? {} : { errno }) },
    },
  );
}
