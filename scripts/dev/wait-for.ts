/**
 * Poll `probe` every 50 ms until it returns something other than undefined, and resolve with it;
 * reject naming `what` after `timeoutMs`. For the demo and tests watching a live server's files
 * and receivers, where nothing can be awaited directly.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
