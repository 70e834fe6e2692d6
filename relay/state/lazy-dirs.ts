import { mkdir } from "node:fs/promises";

/**
 * Create `dirs` (mode 0700, with parents) on first use, once: the returned function resolves when
 * they exist. A failure is passed through `fail` and not remembered, so a later call tries again
 * once the disk is fixed.
 */
export function lazyDirs(dirs: readonly string[], fail: (error: unknown) => Error): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= Promise.all(dirs.map((dir) => mkdir(dir, { recursive: true, mode: 0o700 }))).then(
      () => undefined,
      (error: unknown) => {
        ready = undefined;
        throw fail(error);
      },
    );
    return ready;
  };
}
