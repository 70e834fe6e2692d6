import type { Dispatcher } from "undici";
import { rememberLast } from "../callback/index.ts";

/** One request and what the attempt needs of its answer. */
export interface ExchangeOptions {
  dispatcher: Dispatcher;
  method: "POST";
  headers: Record<string, string>;
  body: string;
  /** undici's wait for the status line and headers, ms. */
  headersTimeout: number;
  /** undici's longest gap between two chunks of the body, ms. */
  bodyTimeout: number;
  /** Body bytes kept; reading stops once this many arrived. */
  maxBytes: number;
  /** Body reading stops this long after the status line, whatever has arrived by then, ms. */
  excerptMs: number;
}

/** The answer: its status line decides; the start of its body is for the audit excerpt. */
export interface Exchanged {
  status: number;
  /** The first `Retry-After` value, when the answer has one. */
  retryAfter: string | undefined;
  /** What arrived of the body within `maxBytes` and `excerptMs`. */
  body: Buffer;
}

/** An exchange in flight: its answer, and a way to end it (the attempt's overall timeout). */
export interface Exchange {
  /**
   * Resolves once the status line is in and the body has been read as far as the bounds allow;
   * rejects (with undici's error, or the abort reason) when no status line came.
   */
  answer: Promise<Exchanged>;
  /** Abort the request: before the status line `answer` rejects with `reason`; after it, reading stops. */
  abort(reason: Error): void;
}

/** A URL split into undici's origin and path. */
const splitUrl = rememberLast((url: string) => {
  const parsed = new URL(url);
  return { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
});

/**
 * Send one request through undici's dispatcher and read its answer's status line, `Retry-After`
 * and at most `maxBytes` of its body (for at most `excerptMs`), then drop the rest (the socket goes
 * with it; a whole body read to its end keeps the connection for the next request).
 *
 * undici's `request()` does the same through a Readable body stream, an AbortSignal listener and
 * an async iterator to read it: most of what one callback costs the client. This handler gets the
 * chunks directly. Errors before the status line are undici's own (the same codes `request()`
 * rejects with); a body that fails, drips or is cut off yields what arrived.
 */
export function exchange(url: string, options: ExchangeOptions): Exchange {
  const chunks: Buffer[] = [];
  let size = 0;
  let status = 0;
  let retryAfter: string | undefined;
  let abortRequest: ((error: Error) => void) | null = null;
  /** Abort asked before undici connected the request: applied in onConnect (as request() does). */
  let pendingAbort: Error | null = null;
  let headersIn = false;
  let settled = false;
  let excerptTimer: NodeJS.Timeout | undefined;
  let resolveAnswer: (value: Exchanged) => void = () => {};
  let rejectAnswer: (error: unknown) => void = () => {};
  const answer = new Promise<Exchanged>((resolve, reject) => {
    resolveAnswer = resolve;
    rejectAnswer = reject;
  });

  /** Stop reading: resolve with what arrived, and drop the rest of the body unless it ended. */
  const finish = (ended: boolean) => {
    if (settled) return;
    settled = true;
    clearTimeout(excerptTimer);
    resolveAnswer({ status, retryAfter, body: Buffer.concat(chunks, size).subarray(0, options.maxBytes) });
    if (!ended) abortRequest?.(new Error("excerpt read"));
  };

  const handler: Dispatcher.DispatchHandler = {
    onConnect(abort) {
      if (pendingAbort !== null) return abort(pendingAbort);
      abortRequest = abort;
    },
    onHeaders(statusCode, rawHeaders) {
      if (statusCode < 200) return true; // informational: the answer is still to come
      headersIn = true;
      status = statusCode;
      retryAfter = firstHeader(rawHeaders, "retry-after");
      excerptTimer = setTimeout(() => finish(false), options.excerptMs);
      excerptTimer.unref?.();
      return true;
    },
    onData(chunk) {
      if (settled) return true;
      chunks.push(chunk);
      size += chunk.length;
      if (size >= options.maxBytes) finish(false); // a huge answer is not worth the socket
      return true;
    },
    onComplete() {
      finish(true);
    },
    onError(error) {
      if (headersIn) return finish(true); // cut off, aborted or timed out mid-body: what arrived
      settled = true;
      rejectAnswer(error);
    },
  };

  try {
    const { origin, path } = splitUrl(url);
    options.dispatcher.dispatch(
      {
        origin,
        path,
        method: options.method,
        headers: options.headers,
        body: options.body,
        headersTimeout: options.headersTimeout,
        bodyTimeout: options.bodyTimeout,
      },
      handler,
    );
  } catch (error) {
    settled = true;
    rejectAnswer(error);
  }
  return {
    answer,
    abort(reason) {
      if (settled) return;
      if (headersIn) return finish(false);
      if (abortRequest !== null) abortRequest(reason);
      else pendingAbort = reason;
    },
  };
}

/** The first value of header `name` (lower case) in undici's raw [name, value, …] list, latin1. */
function firstHeader(raw: Buffer[] | string[] | null | undefined, name: string): string | undefined {
  if (!raw) return undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (String(raw[i]).toLowerCase() !== name) continue;
    const value = raw[i + 1];
    return typeof value === "string" ? value : value?.toString("latin1");
  }
  return undefined;
}
