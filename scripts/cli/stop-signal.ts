/**
 * Aborted on the first SIGINT or SIGTERM (its `reason` is the signal's name) or when `signal`
 * aborts (its reason); the process listeners are removed once it fires. While it waits, the
 * signal no longer ends the process: whoever holds it stops cleanly.
 */
export function stopSignal(signal?: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const stop = (reason: unknown) => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    signal?.removeEventListener("abort", onAbort);
    controller.abort(reason);
  };
  const onAbort = () => stop(signal?.reason);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return controller.signal;
}

/** Resolves once `signal` is aborted. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
