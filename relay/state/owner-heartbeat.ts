import { mkdir, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";
import { writeAtomic } from "./durable-file.ts";
import { currentOwner, type ProcessOwner } from "./process-owner.ts";

/**
 * A process that journals runs keeps one small file per state dir,
 * `<stateDir>/owners/<id>.json`, and touches it periodically. Another host cannot ask whether a
 * pid runs there, so its liveness is judged by how recently that file was touched.
 */

/** How often a live owner touches its file. @default 10000 (10 s) */
export const OWNER_RENEW_INTERVAL_MS = 10_000;
/** An owner not renewed for this long is taken for dead where liveness is unknown. */
export const OWNER_STALE_MS = 6 * OWNER_RENEW_INTERVAL_MS; // 1 min

/** State dirs this process already renews (module state: shared by every plugin instance). */
const renewing = new Map<string, Promise<void>>();

/** The owner file of `owner` in `stateDir`: a fixed-length name whatever the host name holds. */
export function ownerFilePath(stateDir: string, owner: ProcessOwner): string {
  const id = markerName(JSON.stringify([owner.host, owner.bootId, owner.pid, owner.startTime]));
  return join(stateDir, "owners", `${id.slice(0, 32)}.json`);
}

/**
 * Start renewing this process's owner file in `stateDir` (once per process and dir): written now,
 * touched every `intervalMs` by an unref'd timer, so it never keeps OpenCode alive. Never rejects;
 * a file that cannot be written only makes this owner look stale to other hosts.
 */
export function renewOwner(stateDir: string, intervalMs = OWNER_RENEW_INTERVAL_MS): Promise<void> {
  const existing = renewing.get(stateDir);
  if (existing) return existing;
  const owner = currentOwner();
  const path = ownerFilePath(stateDir, owner);
  const started = (async () => {
    try {
      await mkdir(join(stateDir, "owners"), { recursive: true, mode: 0o700 });
      await writeAtomic(path, owner);
    } catch {
      return; // see above: only this owner's liveness for other hosts suffers
    }
    const timer = setInterval(() => {
      const now = new Date();
      utimes(path, now, now).catch(() => writeAtomic(path, owner).catch(() => undefined));
    }, intervalMs);
    timer.unref?.();
  })();
  renewing.set(stateDir, started);
  return started;
}

/** When `owner` last renewed its file in `stateDir` (epoch ms), or null when it has none. */
export async function ownerRenewedAt(stateDir: string, owner: ProcessOwner): Promise<number | null> {
  try {
    return (await stat(ownerFilePath(stateDir, owner))).mtimeMs;
  } catch {
    return null;
  }
}
