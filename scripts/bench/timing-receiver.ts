import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

/** One request, stamped when its body had fully arrived. */
export interface TimedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** `performance.now()` of the receiving process when the body ended. */
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

/** The requests arrived and not taken yet, and those waiting for them. */
function requestQueue() {
  const queue: TimedRequest[] = [];
  const waiters: Array<(request: TimedRequest) => void> = [];
  const countWaiters = new Set<() => void>();
  let count = 0;
  return {
    queue,
    count: () => count,
    /** A request has arrived; `make` builds it only if someone will take it. */
    arrived(make: () => TimedRequest, keep: boolean) {
      count++;
      for (const wake of countWaiters) wake();
      if (!keep && waiters.length === 0) return;
      const request = make();
      const waiter = waiters.shift();
      if (waiter) waiter(request);
      else queue.push(request);
    },
    next(timeoutMs: number): Promise<TimedRequest> {
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
    waitForCount(n: number, timeoutMs: number): Promise<void> {
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
  };
}

/** The HTTP side: answers 200 at once and hands each stamped request to `onRequest`. */
async function listenStamped(
  onRequest: (make: () => TimedRequest) => void,
): Promise<{ server: Server; url: string }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const at = performance.now();
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
      onRequest(() => ({
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at,
        epoch: performance.timeOrigin + at,
      }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

/** The receiver around `requests`, whose `arrived` is fed by the HTTP side (here or in a child). */
function receiverOver(
  requests: ReturnType<typeof requestQueue>,
  url: string,
  close: () => Promise<void>,
): TimingReceiver & { arrived(make: () => TimedRequest): void } {
  let keep = true;
  return {
    url,
    count: requests.count,
    taken: requests.queue,
    keepBodies(value) {
      keep = value;
    },
    arrived: (make) => requests.arrived(make, keep),
    next: (timeoutMs = 30_000) => requests.next(timeoutMs),
    waitForCount: (n, timeoutMs = 120_000) => requests.waitForCount(n, timeoutMs),
    close,
  };
}

export async function startTimingReceiver(): Promise<TimingReceiver> {
  let receiver: ReturnType<typeof receiverOver> | undefined;
  const { server, url } = await listenStamped((make) => receiver?.arrived(make));
  receiver = receiverOver(requestQueue(), url, () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  });
  return receiver;
}

/**
 * The same receiver, its HTTP server in a process of its own (`dist/bench.js --child
 * timing-receiver`), so that what the bench's own process does (a fake model reading a 20 MB
 * request, its garbage) does not delay the stamps. Each request is stamped there and sent here
 * over IPC; `at` is then this process's `performance.now()` for the same instant.
 */
export async function startRemoteTimingReceiver(): Promise<TimingReceiver> {
  const script = fileURLToPath(import.meta.url);
  const child: ChildProcess = spawn(process.execPath, [script, "--child", "timing-receiver"], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => reject(new Error(`timing receiver exited ${code ?? signal}`)));
    child.once("message", (message) => resolve((message as { url: string }).url));
  });
  const receiver = receiverOver(requestQueue(), url, () => {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      if (child.pid !== undefined) process.kill(child.pid, "SIGTERM");
    });
  });
  child.on("message", (message) => {
    const request = message as TimedRequest;
    receiver.arrived(() => ({ ...request, at: request.epoch - performance.timeOrigin }));
  });
  return receiver;
}

/** In the child: serve, and send each stamped request to the parent; end with the parent. */
export async function timingReceiverChild(): Promise<never> {
  const send = process.send?.bind(process);
  if (!send) throw new Error("the timing receiver child needs an IPC channel");
  const { url } = await listenStamped((make) => send(make()));
  process.on("disconnect", () => process.exit(0));
  send({ url });
  return new Promise<never>(() => {});
}
