import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the receiver saw it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** `JSON.parse(body)` when it parses, else undefined. */
  json: unknown;
  receivedAt: number;
}

/** What to answer; a function gets the request and its 0-based index. */
export interface Reply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (real time: for timeout tests keep it short). */
  delayMs?: number;
  /** Destroy the socket instead of answering (a network error for the sender). */
  destroy?: boolean;
  /** Answer only once this settles: the test holds the request in flight as long as it needs. */
  hold?: Promise<unknown>;
}

export type Responder = (request: ReceivedRequest, index: number) => Reply;

export interface RecordingReceiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Replace how the receiver answers from now on. */
  respondWith(responder: Responder): void;
  /** Resolves once at least `count` requests have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

const ok: Responder = () => ({
  status: 200,
  body: '{"ok":true,"runId":"r-1"}',
  headers: { "content-type": "application/json" },
});

/** A real HTTP server on 127.0.0.1, port 0, recording every request. Close it in teardown. */
export async function startRecordingReceiver(responder: Responder = ok): Promise<RecordingReceiver> {
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  let respond = responder;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const request: ReceivedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body,
        json,
        receivedAt: Date.now(),
      };
      const index = requests.length;
      requests.push(request);
      for (const wake of waiters) wake();
      const reply = respond(request, index);
      const send = () => {
        if (reply.destroy) {
          req.socket.destroy();
          return;
        }
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? "");
      };
      if (reply.hold) void reply.hold.finally(send);
      else if (reply.delayMs) setTimeout(send, reply.delayMs).unref();
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    respondWith(next) {
      respond = next;
    },
    waitFor(count, timeoutMs = 15_000) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver got ${requests.length} of ${count} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (requests.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests);
        };
        waiters.add(check);
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
