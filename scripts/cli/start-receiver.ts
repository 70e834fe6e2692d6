import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseReportBlock, verifyWebhook, type WebhookVerdict, webhookSecretKey } from "../../relay/index.ts";

/** One accepted callback, as the dev receiver understood it. */
export interface ReceivedCallback {
  receivedAt: number;
  path: string;
  /** Which payload shape it was, told from the body (the path is the sender's business). */
  kind: "openclaw-agent" | "openclaw-wake" | "webhook" | "unknown";
  outcome: string | null;
  runId: string | null;
  callbackSession: string | null;
  idempotencyKey: string | null;
  truncated: boolean | null;
  /** The readable report text (`message`, `text` or `data.message`). */
  message: string | null;
  body: unknown;
}

/** A refused request: the status answered and why. */
export interface RejectedRequest {
  receivedAt: number;
  path: string;
  status: number;
  code:
    | Exclude<WebhookVerdict, { ok: true }>["code"]
    | "UNAUTHORIZED"
    | "NOT_POST"
    | "TOO_LARGE"
    | "BAD_JSON";
}

export interface ReceiverOptions {
  /** TCP port; 0 picks a free one. @default 8787 */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** Standard Webhooks secrets (`whsec_…`); when given, every request must be signed by one. */
  secrets?: string[];
  /** When given, every request must carry `Authorization: Bearer <token>` or `x-openclaw-token`. */
  token?: string;
  /** Largest body accepted, bytes; larger is answered 413 like OpenClaw. @default 262144 */
  maxBodyBytes?: number;
  /**
   * Accepted `webhook-id`s remembered (with a hash of their body) for replay detection; the oldest
   * are forgotten first. @default 10000
   */
  maxSeenIds?: number;
  /** Epoch ms, for the timestamp tolerance. @default Date.now */
  now?: () => number;
  onCallback?: (callback: ReceivedCallback) => void;
  onRejected?: (rejected: RejectedRequest) => void;
  /**
   * A signed request repeated an accepted `webhook-id` with the same body (the sender retried
   * because our first answer was lost): answered 200 again, not handed to onCallback twice.
   */
  onDuplicate?: (duplicate: { receivedAt: number; path: string; webhookId: string }) => void;
}

/**
 * Accepted ids and the sha256 of their body, forgetting the oldest past `max` so a long-running
 * receiver stays flat.
 */
function acceptedIds(max: number): {
  bodyHash(id: string): string | undefined;
  add(id: string, hash: string): void;
} {
  const ids = new Map<string, string>();
  return {
    bodyHash: (id) => ids.get(id),
    add(id, hash) {
      ids.set(id, hash);
      for (const oldest of ids.keys()) {
        if (ids.size <= max) break;
        ids.delete(oldest);
      }
    },
  };
}

const sha256 = (body: string) => createHash("sha256").update(body).digest("hex");

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function bearerOf(req: IncomingMessage): string | undefined {
  // As the gateway: the Authorization header wins over x-openclaw-token when both are sent.
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
  const header = req.headers["x-openclaw-token"];
  return match?.[1] ?? (Array.isArray(header) ? header[0] : header);
}

const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
const text = (value: unknown): string | null => (typeof value === "string" ? value : null);

/** Tell the payload shape from the body and pull out what a person wants to see. */
function describe(path: string, body: unknown, receivedAt: number): ReceivedCallback {
  const data = field(body, "data");
  const type = text(field(body, "type"));
  if (type?.startsWith("opencode.run.") && typeof data === "object" && data !== null) {
    const truncated = field(data, "truncated");
    return {
      receivedAt,
      path,
      kind: "webhook",
      outcome: text(field(data, "outcome")),
      runId: text(field(data, "runId")),
      callbackSession: text(field(data, "callbackSession")),
      idempotencyKey: text(field(data, "idempotencyKey")),
      truncated: typeof truncated === "boolean" ? truncated : null,
      message: text(field(data, "message")),
      body,
    };
  }
  const agentMessage = text(field(body, "message"));
  const message = agentMessage ?? text(field(body, "text"));
  const block = message === null ? undefined : parseReportBlock(message);
  return {
    receivedAt,
    path,
    kind: agentMessage !== null ? "openclaw-agent" : message !== null ? "openclaw-wake" : "unknown",
    outcome: text(block?.outcome),
    runId: text(block?.runId),
    callbackSession: text(field(body, "sessionKey")) ?? text(block?.callbackSession),
    idempotencyKey: text(field(body, "idempotencyKey")) ?? text(block?.idempotencyKey),
    truncated: typeof block?.truncated === "boolean" ? block.truncated : null,
    message,
    body,
  };
}

/**
 * Start the dev receiver: accepts POST on any path, checks the bearer token and Standard Webhooks
 * signatures when configured (401 bad token/signature/stale timestamp), and answers 200
 * `{"ok":true}` like the OpenClaw gateway. A signed request repeating an accepted `webhook-id` is
 * answered 200 again when its body is the same (a retry after a lost answer; not printed twice)
 * and 409 when the body differs. Throws RelayError CONFIG_INVALID for a
 * malformed secret, and the listen error (EADDRINUSE…) as is.
 */
export async function startReceiver(
  options: ReceiverOptions = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const secrets = options.secrets ?? [];
  for (const secret of secrets) webhookSecretKey(secret);
  const maxBodyBytes = options.maxBodyBytes ?? 262_144;
  const accepted = acceptedIds(options.maxSeenIds ?? 10_000);
  const now = options.now ?? Date.now;

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer | null) => {
    const path = req.url ?? "/";
    const receivedAt = now();
    const refuse = (status: number, code: RejectedRequest["code"], body: string) => {
      options.onRejected?.({ receivedAt, path, status, code });
      res.writeHead(status, { "content-type": body.startsWith("{") ? "application/json" : "text/plain" });
      res.end(body);
    };
    if (req.method !== "POST") return refuse(405, "NOT_POST", "Method Not Allowed");
    if (raw === null) return refuse(413, "TOO_LARGE", '{"ok":false,"error":"payload too large"}');
    if (options.token !== undefined) {
      const given = bearerOf(req);
      if (given === undefined || !sameSecret(given, options.token))
        return refuse(401, "UNAUTHORIZED", "Unauthorized");
    }
    const body = raw.toString("utf8");
    let webhookId: string | undefined;
    if (secrets.length > 0) {
      const verdict = verifyWebhook(secrets, req.headers, body, { now });
      // A stale timestamp is a clock problem, not a wrong secret: say so, as Standard Webhooks
      // libraries do, so the sender can give the right hint (DELIVERY_STALE_TIMESTAMP).
      if (!verdict.ok && verdict.code === "WEBHOOK_STALE_TIMESTAMP")
        return refuse(
          401,
          verdict.code,
          '{"ok":false,"error":"webhook-timestamp too old or too new: outside the 5-minute tolerance (check the clocks)"}',
        );
      if (!verdict.ok) return refuse(401, verdict.code, "Unauthorized");
      // Verified, so the header is there. Replays are judged here, not by verifyWebhook: a sender
      // retries with the same id and body when our 2xx was lost, and must hear 2xx again (the
      // README tells receivers so); only the same id with another body is a conflict.
      const header = req.headers["webhook-id"];
      webhookId = Array.isArray(header) ? header.join(" ") : String(header);
      const seen = accepted.bodyHash(webhookId);
      if (seen !== undefined) {
        if (seen !== sha256(body))
          return refuse(
            409,
            "WEBHOOK_REPLAYED",
            '{"ok":false,"error":"webhook-id already used for another body"}',
          );
        options.onDuplicate?.({ receivedAt, path, webhookId });
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true,"duplicate":true}');
        return;
      }
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return refuse(400, "BAD_JSON", '{"ok":false,"error":"body is not JSON"}');
    }
    if (webhookId !== undefined) accepted.add(webhookId, sha256(body));
    options.onCallback?.(describe(path, json, receivedAt));
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"ok":true}');
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      // Keep reading past the limit (answering early would reset the sender), but stop storing.
      if (bytes <= maxBodyBytes) chunks.push(chunk);
    });
    req.on("end", () => handle(req, res, bytes <= maxBodyBytes ? Buffer.concat(chunks) : null));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8787, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
