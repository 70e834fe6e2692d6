import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { signWebhook } from "../../../relay/callback/sign-webhook.ts";
import { verifyWebhook } from "../../../relay/callback/verify-webhook.ts";
import { RelayError } from "../../../relay/errors/errors.ts";

// The Standard Webhooks specification's published test vector (also in the svix libraries).
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const OTHER = `whsec_${Buffer.from("another signing key, 32 bytes!!").toString("base64")}`;

const at = (seconds: number) => () => seconds * 1000;
const headers = (signature = SIGNATURE, ts = String(TS), id = ID) => ({
  "webhook-id": id,
  "webhook-timestamp": ts,
  "webhook-signature": signature,
});

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof RelayError ? error.code : "not a RelayError";
  }
  return undefined;
}

describe("signWebhook", () => {
  it("reproduces the Standard Webhooks reference signature", () => {
    expect(signWebhook(SECRET, ID, TS, BODY)).toBe(SIGNATURE);
  });

  it("accepts a secret without its whsec_ prefix, like the reference libraries", () => {
    expect(signWebhook(SECRET.slice("whsec_".length), ID, TS, BODY)).toBe(SIGNATURE);
  });

  it("refuses a secret that is not base64 with CONFIG_INVALID", () => {
    expect(codeOf(() => signWebhook("whsec_not base64!", ID, TS, BODY))).toBe("CONFIG_INVALID");
    expect(codeOf(() => signWebhook("whsec_", ID, TS, BODY))).toBe("CONFIG_INVALID");
  });
});

describe("verifyWebhook", () => {
  it("accepts the reference vector", () => {
    expect(verifyWebhook([SECRET], headers(), BODY, { now: at(TS) })).toEqual({ ok: true });
  });

  it("reads headers case-insensitively and array-valued", () => {
    const upper = { "Webhook-Id": ID, "WEBHOOK-TIMESTAMP": String(TS), "webhook-signature": [SIGNATURE] };
    expect(verifyWebhook([SECRET], upper, BODY, { now: at(TS) })).toEqual({ ok: true });
  });

  it("refuses an altered body, id or timestamp", () => {
    const bad = { ok: false, code: "WEBHOOK_BAD_SIGNATURE" };
    expect(verifyWebhook([SECRET], headers(), '{"test": 1}', { now: at(TS) })).toEqual(bad);
    expect(
      verifyWebhook([SECRET], headers(SIGNATURE, String(TS), "msg_other"), BODY, { now: at(TS) }),
    ).toEqual(bad);
    expect(verifyWebhook([SECRET], headers(SIGNATURE, String(TS + 1)), BODY, { now: at(TS) })).toEqual(bad);
    expect(verifyWebhook([OTHER], headers(), BODY, { now: at(TS) })).toEqual(bad);
    expect(verifyWebhook([SECRET], headers(SIGNATURE, "1614265330abc"), BODY, { now: at(TS) })).toEqual(bad);
    expect(verifyWebhook([SECRET], headers(`v2,${SIGNATURE.slice(3)}`), BODY, { now: at(TS) })).toEqual(bad);
  });

  it("refuses missing headers", () => {
    const { "webhook-signature": _omit, ...rest } = headers();
    expect(verifyWebhook([SECRET], rest, BODY, { now: at(TS) })).toEqual({
      ok: false,
      code: "WEBHOOK_MISSING_HEADERS",
    });
  });

  it("refuses a timestamp more than the tolerance away, either way", () => {
    const stale = { ok: false, code: "WEBHOOK_STALE_TIMESTAMP" };
    expect(verifyWebhook([SECRET], headers(), BODY, { now: at(TS + 301) })).toEqual(stale);
    expect(verifyWebhook([SECRET], headers(), BODY, { now: at(TS - 301) })).toEqual(stale);
    expect(verifyWebhook([SECRET], headers(), BODY, { now: at(TS + 300) })).toEqual({ ok: true });
    expect(verifyWebhook([SECRET], headers(), BODY, { now: at(TS + 20), toleranceSeconds: 10 })).toEqual(
      stale,
    );
  });

  it("accepts when any offered signature matches any secret (rotation)", () => {
    const both = `${signWebhook(OTHER, ID, TS, BODY)} ${SIGNATURE}`;
    expect(verifyWebhook([SECRET], headers(both), BODY, { now: at(TS) })).toEqual({ ok: true });
    expect(verifyWebhook([OTHER, SECRET], headers(), BODY, { now: at(TS) })).toEqual({ ok: true });
  });

  it("refuses a replayed id, but does not remember forged ones", () => {
    const seenIds = new Set<string>();
    const forged = verifyWebhook([SECRET], headers("v1,AAAA"), BODY, { now: at(TS), seenIds });
    expect(forged).toEqual({ ok: false, code: "WEBHOOK_BAD_SIGNATURE" });
    expect(verifyWebhook([SECRET], headers(), BODY, { now: at(TS), seenIds })).toEqual({ ok: true });
    expect(verifyWebhook([SECRET], headers(), BODY, { now: at(TS), seenIds })).toEqual({
      ok: false,
      code: "WEBHOOK_REPLAYED",
    });
  });

  it("verifies whatever it signed, for any id and body", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }).filter((s) => s.trim() === s && s.length > 0),
        fc.string({ unit: "grapheme", maxLength: 500 }),
        fc.integer({ min: 0, max: 4_000_000_000 }),
        (id, body, ts) => {
          const signature = signWebhook(SECRET, id, ts, body);
          const h = headers(signature, String(ts), id);
          expect(verifyWebhook([SECRET], h, body, { now: at(ts) })).toEqual({ ok: true });
          expect(verifyWebhook([SECRET], h, `${body} `, { now: at(ts) }).ok).toBe(false);
        },
      ),
    );
  });
});
