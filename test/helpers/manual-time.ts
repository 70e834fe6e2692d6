/** A hand-driven clock and scheduler: retries fire only when the test advances time. */
export function manualTime(start = 1_700_000_000_000) {
  let t = start;
  const timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  return {
    now: () => t,
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
    pending: () => timers.filter((x) => x.live).length,
  };
}
