import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { markerName } from "./dedupe-store.ts";

/** Who holds an outbox entry's lease, as its lease file says: for telling a person, not for deciding. */
export interface LeaseHolder {
  pid?: number;
  host?: string;
  /** When the lease was taken (or last renewed), ISO-8601. */
  since?: string;
}

/**
 * The holder named in the lease file of `dedupeKey` under the outbox folder `outboxDir`, or null
 * when there is no lease (or it cannot be read). Whether that holder is alive is the lease
 * keeper's question (outbox-lease.ts); this only names it.
 */
export async function readLeaseHolder(outboxDir: string, dedupeKey: string): Promise<LeaseHolder | null> {
  let lease: { pid?: unknown; host?: unknown; at?: unknown; owner?: { pid?: unknown; host?: unknown } };
  try {
    lease = JSON.parse(await readFile(join(outboxDir, `${markerName(dedupeKey)}.lease`), "utf8"));
  } catch {
    return null;
  }
  if (lease === null || typeof lease !== "object") return null;
  // The owner may sit at the top level or in an `owner` object (process-owner.ts).
  const pid = lease.pid ?? lease.owner?.pid;
  const host = lease.host ?? lease.owner?.host;
  return {
    ...(typeof pid === "number" ? { pid } : {}),
    ...(typeof host === "string" ? { host } : {}),
    ...(typeof lease.at === "number" ? { since: new Date(lease.at).toISOString() } : {}),
  };
}
