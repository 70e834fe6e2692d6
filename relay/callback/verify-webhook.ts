import { timingSafeEqual } from "node:crypto";
import { signWebhook } from "./sign-webhook.ts";

/** The result of checking one request; `code` says why it was refused. */
export type WebhookVerdict =
  | { ok: true }
  | {
      ok: false;
      code:
        | "WEBHOOK_MISSING_HEADERS"
        | "WEBHOOK_BAD_SIGNATURE"
        | "WEBHOOK_STALE_TIMESTAMP"
        | "WEBHOOK_REPLAYED";
    };

/** Where seen `webhook-id`s are kept; a `Set` works, a bounded set keeps memory flat. */
export interface SeenIds {
  has(id: string): boolean;
  add(id: string): unknown;
}

export interface VerifyWebhookOptions {
  /** Largest clock difference accepted, either way, in seconds. @default 300 (5 min, as the spec) */
  toleranceSeconds?: number;
  /** Epoch milliseconds. @default Date.now */
  now?: () => number;
  /** When given, an id seen before is refused as a replay, and a verified id is added. */
  seenIds?: SeenIds;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    return Array.isArray(value) ? value.join(" ") : value;
  }
  return undefined;
}

/**
 * Verify a Standard Webhooks request (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
 * against any of `secrets` (several during a rotation). Order of checks as the reference library:
 * headers, timestamp, signature; then replay, so a forged id cannot poison the seen set.
 * Throws only for a malformed secret (RelayError CONFIG_INVALID): that is the receiver's fault.
 */
export function verifyWebhook(
  secrets: string[],
  headers: Record<string, string | string[] | undefined>,
  body: string,
  options: VerifyWebhookOptions = {},
): WebhookVerdict {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) return { ok: false, code: "WEBHOOK_MISSING_HEADERS" };

  // Only plain decimal seconds: parseInt would accept "1614265330abc".
  if (!/^\d{1,15}$/.test(timestamp)) return { ok: false, code: "WEBHOOK_BAD_SIGNATURE" };
  const seconds = Number(timestamp);
  const nowSeconds = Math.floor((options.now ?? Date.now)() / 1000);
  if (Math.abs(nowSeconds - seconds) > (options.toleranceSeconds ?? 300)) {
    return { ok: false, code: "WEBHOOK_STALE_TIMESTAMP" };
  }

  const offered = signatures
    .split(" ")
    .filter((entry) => entry.startsWith("v1,"))
    .map((entry) => Buffer.from(entry.slice(3), "utf8"));
  const matches = secrets.some((secret) => {
    const expected = Buffer.from(signWebhook(secret, id, seconds, body).slice(3), "utf8");
    return offered.some(
      (candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected),
    );
  });
  if (!matches) return { ok: false, code: "WEBHOOK_BAD_SIGNATURE" };

  if (options.seenIds) {
    if (options.seenIds.has(id)) return { ok: false, code: "WEBHOOK_REPLAYED" };
    options.seenIds.add(id);
  }
  return { ok: true };
}
