import { createHmac } from "node:crypto";
import { RelayError } from "../errors/index.ts";

const SECRET_PREFIX = "whsec_";
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The HMAC key of a Standard Webhooks secret: the base64 after `whsec_` (the prefix is optional,
 * as in the reference libraries). Node's base64 decoder skips junk silently, so the text is
 * checked first: a mistyped secret must fail loudly, not sign with a different key.
 */
export function webhookSecretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = BASE64.test(encoded) ? Buffer.from(encoded, "base64") : Buffer.alloc(0);
  if (key.length === 0) {
    throw new RelayError(
      "CONFIG_INVALID",
      "target.secret is not a Standard Webhooks secret (whsec_<base64>)",
      {
        details: { key: "target.secret" },
      },
    );
  }
  return key;
}

/**
 * One Standard Webhooks signature: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
 * Throws RelayError CONFIG_INVALID when the secret is not `whsec_<base64>`.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac("sha256", webhookSecretKey(secret))
    .update(`${id}.${timestampSeconds}.${body}`, "utf8")
    .digest("base64");
  return `v1,${mac}`;
}
