import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request, stamped when its body had fully arrived. */
export interface TimedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** `performance.now()` of this process when the body ended. */
  at: number;
  /** Epoch ms with sub-ms precision (`performance.timeOrigin + at`), to compare across processes. */
  epoch: number;
}

/**
 * The receiver every delivery measurement POSTs to: 127.0.0.1, port 0, answers 200 at once, and
 * stamps each request with a monotonic time when its body has arrived. `next()` resolves with the
 * next request that arrives (or one that already arrived and was not taken yet).
 */
export interface TimingReceiver {
  url: string;
  count(): number;
  next(timeoutMs?: number): Promise<TimedRequest>;
  /** Resolves once `n` requests in all have arrived. */
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  /** Keep the last requests' bodies (default: keep none, to measure memory honestly). */
  keepBodies(keep: boolean): void;
  taken: TimedRequest[];
  close(): Promise<void>;
}

export async function startTimingReceiver(): Promise<TimingReceiver> {
  const queue: TimedRequest[] = [];
  const waiters: Array<(request: TimedRequest) => void> = [];
  const countWaiters = new Set<() => void>();
  let count = 0;
  let keep = true;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const at = performance.now();
      count++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
      for (const wake of countWaiters) wake();
      if (!keep && waiters.length === 0) return;
      const request: TimedRequest = {
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at,
        epoch: performance.timeOrigin + at,
      };
      const waiter = waiters.shift();
      if (waiter) waiter(request);
      else queue.push(request);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => count,
    taken: queue,
    keepBodies(value) {
      keep = value;
    },
    next(timeoutMs = 30_000) {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const index = waiters.indexOf(deliver);
          if (index >= 0) waiters.splice(index, 1);
          reject(new Error(`no request within ${timeoutMs} ms`));
        }, timeoutMs);
        const deliver = (request: TimedRequest) => {
          clearTimeout(timer);
          resolve(request);
        };
        waiters.push(deliver);
      });
    },
    waitForCount(n, timeoutMs = 120_000) {
      if (count >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          countWaiters.delete(check);
          reject(new Error(`receiver got ${count} of ${n} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (count < n) return;
          clearTimeout(timer);
          countWaiters.delete(check);
          resolve();
        };
        countWaiters.add(check);
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
