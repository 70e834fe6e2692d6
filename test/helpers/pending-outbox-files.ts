import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What a relay on `stateDir` still has to send, as its files say: pending entries (`outbox/*.json`),
 * staged claims (`outbox/staged/*`) and leases (`outbox/*.lease`). Final failures (`outbox/failed/`)
 * are not pending, nor is a staged batch file made ahead and not filled yet (relay/state/spare-file.ts). Every callback is on disk before its first attempt and leaves only once it is
 * delivered or failed for good, so an empty list means no relay on this state will send again:
 * the point at which a test can count callbacks and know no second one is still coming.
 */
export function pendingOutboxFiles(stateDir: string): string[] {
  const outbox = join(stateDir, "outbox");
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  };
  return [
    ...list(outbox)
      .filter((name) => name.endsWith(".json") || name.endsWith(".lease"))
      .map((name) => join(outbox, name)),
    ...stagedBatchFiles(stateDir),
  ];
}

/** The staged batch files under `stateDir` (full paths), without an unfilled spare (all NULs). */
export function stagedBatchFiles(stateDir: string): string[] {
  const staged = join(stateDir, "outbox", "staged");
  let names: string[];
  try {
    names = readdirSync(staged);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names.map((name) => join(staged, name)).filter((path) => !isUnfilledSpare(path));
}

/** A batch file made ahead and not filled yet: all NULs (relay/state/spare-file.ts). */
export function isUnfilledSpare(path: string): boolean {
  try {
    const data = readFileSync(path);
    return data.length > 0 && data.every((byte) => byte === 0);
  } catch {
    return false; // gone since the listing, or not a file: let the caller see the name
  }
}
