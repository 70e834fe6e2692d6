/**
 * A counting semaphore: bounds requests in flight toward the receiver (delivery.concurrency) and
 * runs being accepted at once (each is a dozen file operations).
 */
export function semaphore(limit: number) {
  let free = limit;
  const waiting: Array<() => void> = [];
  return {
    /** Take a free slot at once: false when none is free (then acquire() waits for one). */
    tryAcquire(): boolean {
      if (free === 0) return false;
      free--;
      return true;
    },
    acquire(): Promise<void> {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}
