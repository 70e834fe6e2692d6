import { readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * What a relay on `stateDir` still has to send, as its files say: pending entries (`outbox/*.json`),
 * staged claims (`outbox/staged/*`) and leases (`outbox/*.lease`). Final failures (`outbox/failed/`)
 * are not pending. Every callback is on disk before its first attempt and leaves only once it is
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
    ...list(join(outbox, "staged")).map((name) => join(outbox, "staged", name)),
  ];
}
