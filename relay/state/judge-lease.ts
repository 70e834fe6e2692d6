import { currentOwner, isOwner, ownerLiveness, type ProcessOwner } from "./process-owner.ts";

/** How often a live keeper renews every lease it holds (one timer per keeper), ms. */
export const LEASE_RENEW_MS = 15_000; // 15 s
/**
 * A lease whose holder's liveness cannot be checked from here (another host; a lease written
 * without a process start time) is taken over once it has not been renewed for this long: eight
 * renewals missed, and room for a minute or so of clock skew between hosts sharing the state dir.
 */
export const LEASE_STALE_MS = 120_000; // 2 min
/** A lease (or break lock) still empty after this long was left by a crash mid-create, ms. */
export const HALF_WRITTEN_MS = 10_000; // 10 s
/**
 * How often a running relay looks again at the outbox for what a process that died left: its
 * staged batches and the entries whose lease it held (relay/core/recover-outbox.ts rescanOutbox), ms.
 */
export const OUTBOX_RESCAN_MS = 30_000; // 30 s

/**
 * Who holds a lease, as seen from here:
 * - `alive`: the holder's process runs (same host: pid and start time match), or its keeper is
 *   open in this process. Never broken, however long it has held the lease.
 * - `renewing`: liveness unknown (another host, an old lease naming a bare pid) and renewed within
 *   LEASE_STALE_MS: left to its holder.
 * - `dead`: gone (pid gone or reused by a process started at another time, another boot, a closed
 *   keeper of this process), or of unknown liveness and not renewed for LEASE_STALE_MS: taken over.
 * - `writing`: empty or torn, younger than HALF_WRITTEN_MS (being created right now).
 */
export type LeaseHolderState = "alive" | "renewing" | "dead" | "writing";

/** What a lease file says and when it was last renewed. */
export interface LeaseFacts {
  /** The lease file's text. */
  text: string;
  /** The lease file's modification time (its last renewal), epoch ms. */
  renewedAt: number;
  /** The judging keeper's clock, epoch ms (renewals are stamped with it). */
  now: number;
  /** The wall clock, for the age of an empty (half-written) file. */
  wallNow: number;
  /** Keepers open in this process, by holder id. */
  liveHolders: ReadonlySet<string>;
}

/** Judge one lease file. Pure apart from asking the kernel whether a process runs. */
export function judgeLease(facts: LeaseFacts): { state: LeaseHolderState; owner?: ProcessOwner } {
  let parsed: { owner?: unknown; holder?: unknown; pid?: unknown; host?: unknown } | null = null;
  try {
    parsed = JSON.parse(facts.text);
  } catch {
    // empty or torn: timed below
  }
  if (parsed === null || typeof parsed !== "object") {
    return { state: facts.wallNow - facts.renewedAt > HALF_WRITTEN_MS ? "dead" : "writing" };
  }
  if (typeof parsed.holder === "string" && facts.liveHolders.has(parsed.holder)) return { state: "alive" };
  const owner = leaseOwner(parsed);
  if (owner === null) return { state: byRenewal(facts) };
  const me = currentOwner();
  // Ours, by pid and start time, but its keeper is closed: nobody here delivers it any more.
  if (owner.host === me.host && owner.pid === me.pid && owner.startTime === me.startTime) {
    return { state: "dead", owner };
  }
  const liveness = ownerLiveness(owner);
  if (liveness === "unknown") return { state: byRenewal(facts), owner };
  return { state: liveness, owner };
}

function byRenewal(facts: LeaseFacts): LeaseHolderState {
  return facts.now - facts.renewedAt > LEASE_STALE_MS ? "dead" : "renewing";
}

/**
 * The holder named by a lease: `owner` in current leases; `pid` and `host` alone in leases written
 * before owners had start times (judged by renewal age when that pid runs: it may be a reused pid).
 */
function leaseOwner(parsed: { owner?: unknown; pid?: unknown; host?: unknown }): ProcessOwner | null {
  if (isOwner(parsed.owner)) return parsed.owner;
  const { pid, host } = parsed;
  if (typeof host !== "string" || typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return null;
  return { host, pid, bootId: null, startTime: null };
}
