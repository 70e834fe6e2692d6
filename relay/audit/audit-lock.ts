import { lock } from "proper-lockfile";
import { lockPath } from "./audit-files.ts";

/** How hard to try for the lock. */
export interface AuditLockOptions {
  /**
   * Retries before giving up with ELOCKED. The default outlasts proper-lockfile's 10 s stale
   * threshold, so a lock left by a crashed writer is taken over rather than given up on.
   * @default 250 (≈ 20 s at the 80 ms cap)
   */
  retries?: number;
}

/**
 * Run `fn` holding the cross-process lock of the audit log at `path` (the directory
 * `<path>.lock`, via proper-lockfile: mkdir is atomic on every local file system, and it works
 * in Bun). The log's folder must exist.
 */
export async function withAuditLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: AuditLockOptions = {},
): Promise<T> {
  let compromised: Error | undefined;
  const release = await lock(path, {
    lockfilePath: lockPath(path),
    // The log file itself may not exist yet: lock by name, not by realpath.
    realpath: false,
    stale: 10_000, // 10 s without an mtime refresh → another process may take it over
    retries: { retries: options.retries ?? 250, factor: 1.3, minTimeout: 1, maxTimeout: 80, randomize: true },
    // The default throws from a timer, which would crash the host (OpenCode). Note it instead:
    // the batch in progress finishes; the next one takes the lock afresh.
    onCompromised: (error) => {
      compromised = error;
    },
  });
  try {
    return await fn();
  } finally {
    if (compromised === undefined) await release().catch(() => {});
  }
}
