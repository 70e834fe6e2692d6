/** Runs `fn` after `delayMs` and returns a function that cancels it. */
export type Schedule = (fn: () => void, delayMs: number) => () => void;

/**
 * The default Schedule of every background timer (lease renewals, outbox and journal rescans): a
 * setTimeout that never keeps the host process (OpenCode) alive.
 */
export const unrefTimeout: Schedule = (fn, delayMs) => {
  const timer = setTimeout(fn, delayMs);
  timer.unref?.();
  return () => clearTimeout(timer);
};
