/**
 * The file-system errors the state and audit code treat as "not there": a file another process
 * removed first, or a folder that was never created.
 */

/** True for ENOENT (and ENOTDIR: a path component is a file, so the path cannot exist). */
export function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** A `.catch()` handler that swallows "not there" and rethrows anything else. */
export function ignoreMissing(error: unknown): void {
  if (!isMissing(error)) throw error;
}
