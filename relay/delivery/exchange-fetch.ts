import type { Exchange, ExchangeOptions } from "./exchange.ts";

/**
 * `exchange()` through the runtime's own `fetch`: what the relay sends with in Bun (OpenCode's
 * runtime). There, undici's requests go through Bun's `node:net` emulation, whose writes wait for
 * a turn of the event loop: after a long session's turn, OpenCode's own I/O callbacks come first,
 * and a callback sent 4 ms after the idle reached the receiver 20–70 ms later (BENCHMARKS.md,
 * history). Bun's `fetch` writes at once. Same bounds and answer as `exchange()`: the status line,
 * its `Retry-After`, at most `maxBytes` of the body read for at most `excerptMs`; redirects
 * are answers, not followed. The dispatcher and undici's headers/body timeouts do not apply: the
 * attempt's own timeout (`abort`) bounds it.
 */
export function exchangeViaFetch(url: string, options: Omit<ExchangeOptions, "dispatcher">): Exchange {
  const controller = new AbortController();
  let headersIn = false;
  let settled = false;
  let finishNow: (() => void) | null = null;
  const answer = (async () => {
    const response = await fetch(url, {
      method: options.method,
      headers: options.headers,
      body: options.body,
      redirect: "manual",
      signal: controller.signal,
    });
    headersIn = true;
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body?.getReader();
    if (reader !== undefined) {
      let ended = false;
      // Stop reading at the excerpt bound or on abort: resolve with what arrived.
      const stopped = new Promise<void>((resolve) => {
        finishNow = resolve;
      });
      const timer = setTimeout(() => finishNow?.(), options.excerptMs);
      timer.unref?.();
      const read = (async () => {
        while (size < options.maxBytes) {
          const { done, value } = await reader.read();
          if (done) {
            ended = true;
            return;
          }
          chunks.push(value);
          size += value.length;
        }
      })().catch(() => undefined); // cut off mid-body: what arrived
      await Promise.race([read, stopped]);
      clearTimeout(timer);
      if (!ended) reader.cancel().catch(() => undefined);
    }
    settled = true;
    return {
      status: response.status,
      // Whole: an HTTP date holds a comma. (Two Retry-After headers, joined by fetch, parse as
      // neither, and the backoff applies.)
      retryAfter: response.headers.get("retry-after") ?? undefined,
      body: Buffer.concat(chunks).subarray(0, options.maxBytes),
    };
  })();
  answer.catch(() => {
    settled = true;
  });
  return {
    answer,
    abort(reason) {
      if (settled) return;
      if (headersIn) return finishNow?.();
      controller.abort(reason);
    },
  };
}
