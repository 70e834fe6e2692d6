/**
 * A hand-driven clock and scheduler for the relay's injected `now` and `schedule`: retries fire
 * only when the test advances time, so backoff is tested without real waits.
 */
export function manualTime(start = 1_700_000_000_000) {
  let t = start;
  const timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  return {
    now: () => t,
    /** Every delay asked for, in order. */
    delays: [] as number[],
    schedule(fn: () => void, delayMs: number) {
      this.delays.push(delayMs);
      const timer = { at: t + delayMs, fn, live: true };
      timers.push(timer);
      return () => {
        timer.live = false;
      };
    },
    /** Move the clock; run the timers now due, in order. */
    advance(ms: number) {
      t += ms;
      for (const timer of timers.filter((x) => x.live && x.at <= t).sort((a, b) => a.at - b.at)) {
        timer.live = false;
        timer.fn();
      }
    },
    /** Timers scheduled and neither run nor cancelled. */
    pending: () => timers.filter((x) => x.live).length,
  };
}

export type ManualTime = ReturnType<typeof manualTime>;
