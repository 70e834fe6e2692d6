import { stateErrorRecord } from "../delivery/index.ts";
import { NUDGE_MAX_AGE_MS, NUDGE_POLL_MS, readNudges, removeNudge } from "../state/index.ts";
import type { RelayState } from "./relay-state.ts";

/**
 * Honour operators' nudges (state/nudge-file.ts) for callbacks this relay holds: look every
 * `intervalMs` (one readdir of a folder that is usually absent), attempt a nudged callback at once
 * (DeliveryLoop.nudge) and remove its nudge. Nudges for callbacks other relays hold are theirs;
 * stale ones are removed. Returns a stop function. The timer is unref'd: it never keeps a process up.
 */
export function watchNudges(
  state: Pick<RelayState, "outbox" | "loop" | "record">,
  intervalMs: number = NUDGE_POLL_MS,
): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const look = async () => {
    for (const nudge of await readNudges(state.outbox.dir)) {
      if (Date.now() - nudge.at > NUDGE_MAX_AGE_MS) await removeNudge(nudge.path);
      else if (state.loop.has(nudge.dedupeKey)) {
        await removeNudge(nudge.path);
        // false: an attempt is in flight already, which is as soon as a nudge could make it.
        state.loop.nudge(nudge.dedupeKey);
      }
    }
  };
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      look()
        .catch((error: unknown) => state.record(stateErrorRecord({}, error)))
        .finally(next);
    }, intervalMs);
    timer.unref?.();
  };
  next();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
