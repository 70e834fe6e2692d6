/** A response body as undici hands it over: chunks to iterate, and a way to drop the rest. */
export interface ResponseBody extends AsyncIterable<Buffer> {
  destroy(): unknown;
}

export interface ReadExcerptOptions {
  /** Bytes kept; reading stops once this many arrived. */
  maxBytes: number;
  /** Reading stops after this long, whatever has arrived by then, ms. */
  timeoutMs: number;
}

/**
 * Read the start of an answer's body for the audit excerpt (and a 400's reason), bounded in bytes
 * and in time, and drop the rest. Never rejects: a body that drips, stalls, is cut off or is aborted
 * yields what arrived. The status line has already decided the attempt; a slow body must not turn
 * a 2xx into a timeout of unknown outcome (which would be sent again).
 */
export async function readExcerpt(body: ResponseBody, options: ReadExcerptOptions): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const reading = (async () => {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      // Leaving the loop destroys the stream: a huge answer is not worth the socket.
      if (size >= options.maxBytes) break;
    }
  })()
    .catch(() => undefined)
    .finally(() => {
      done = true;
    });
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, options.timeoutMs);
    timer.unref?.();
  });
  await Promise.race([reading, late]);
  clearTimeout(timer);
  if (!done) {
    try {
      body.destroy(); // ends the drip, and its socket: it cannot be reused mid-body
    } catch {
      // already gone
    }
  }
  return Buffer.concat(chunks).subarray(0, options.maxBytes).toString("utf8");
}
