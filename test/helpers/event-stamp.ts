import type { TrackedEvent } from "../../plugin/session-tracker.ts";

/**
 * The latest instant an OpenCode event carries (its message's or part's stamps), 0 for none:
 * replaying a stream with a clock that follows these runs it on the clock it was stamped with.
 */
export function stampOf(event: TrackedEvent): number {
  const p = event.properties as
    | {
        info?: { time?: { created?: number; completed?: number } };
        part?: { time?: { start?: number; end?: number } };
      }
    | undefined;
  return Math.max(
    0,
    p?.info?.time?.created ?? 0,
    p?.info?.time?.completed ?? 0,
    p?.part?.time?.start ?? 0,
    p?.part?.time?.end ?? 0,
  );
}
