import { lstat } from "node:fs/promises";
import { isMissing } from "./fs-errors.ts";

/**
 * Which file `path` names, as `dev:ino` (exact: bigint stats), not following a final symbolic
 * link; undefined when nothing is there. Throws on any other error: callers that would remove
 * something on a wrong answer must not take an unreadable entry for an absent one.
 */
export async function fileId(path: string): Promise<string | undefined> {
  try {
    const stats = await lstat(path, { bigint: true });
    return `${stats.dev}:${stats.ino}`;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}
