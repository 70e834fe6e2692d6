import { dirname, isAbsolute, relative } from "node:path";
import { ensurePrivateDir } from "./private-dir.ts";

/** Options of `lazyDirs`. */
export interface LazyDirsOptions {
  /**
   * The state dir the folders live in: it and every folder between it and each of `dirs` are made
   * private too (ensurePrivateDir), not only the leaves. @default only `dirs` themselves
   */
  root?: string;
  /** Told of each folder tightened to 0700 (for a `warning` audit record). @default ignore */
  onTightened?: (dir: string) => void;
}

/** Resolves when the folders exist; `made` says so without waiting. */
export type LazyDirs = (() => Promise<void>) & {
  /** The folders were made (or found) by an earlier call: a synchronous path may use them. */
  readonly made: boolean;
};

/**
 * Create `dirs` (mode 0700, with parents) on first use, once, each private (private-dir.ts: a
 * folder open to others is tightened when ours, refused with STATE_FOLDER_INSECURE when not): the
 * returned function resolves when they exist. A failure is passed through `fail` and not
 * remembered, so a later call tries again once the disk is fixed.
 */
export function lazyDirs(
  dirs: readonly string[],
  fail: (error: unknown) => Error,
  options: LazyDirsOptions = {},
): LazyDirs {
  let ready: Promise<void> | undefined;
  let made = false;
  const ensure = async () => {
    for (const dir of foldersToCheck(dirs, options.root)) {
      if ((await ensurePrivateDir(dir)) === "tightened") options.onTightened?.(dir);
    }
  };
  const ensureDirs = () => {
    ready ??= ensure().then(
      () => {
        made = true;
      },
      (error: unknown) => {
        ready = undefined;
        throw fail(error);
      },
    );
    return ready;
  };
  return Object.defineProperty(ensureDirs, "made", { get: () => made }) as LazyDirs;
}

/** `root`, then each folder from it down to every dir (parents first), without repeats. */
function foldersToCheck(dirs: readonly string[], root: string | undefined): string[] {
  const out = new Set<string>();
  if (root !== undefined) out.add(root);
  for (const dir of dirs) {
    const rel = root === undefined ? ".." : relative(root, dir);
    if (rel.startsWith("..") || isAbsolute(rel)) {
      out.add(dir); // not under root: only the folder itself
      continue;
    }
    const chain: string[] = [];
    for (let d = dir; d !== root && d !== dirname(d); d = dirname(d)) chain.unshift(d);
    for (const d of chain) out.add(d);
  }
  return [...out];
}
