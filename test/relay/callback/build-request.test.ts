import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { parseReportBlock, ROUTING_FIELD_NAMES } from "../../../relay/callback/build-report.ts";
import { buildRequest } from "../../../relay/callback/build-request.ts";
import type { Callback } from "../../../relay/callback/callback.ts";
import { idempotencyKey } from "../../../relay/callback/idempotency-key.ts";
import { verifyWebhook } from "../../../relay/callback/verify-webhook.ts";
import { configSchema, type RelayConfigInput } from "../../../relay/config/config-schema.ts";
import { RelayError } from "../../../relay/errors/errors.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../../helpers/recording-receiver.ts";
import { type CallbackOverrides, sampleCallback } from "../../helpers/sample-callback.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER = `whsec_${Buffer.from("another signing key, 32 bytes!!").toString("base64")}`;

function target(input: Partial<RelayConfigInput["target"]> = {}) {
  return configSchema.parse({ target: { url: "http://127.0.0.1:18789/hooks", token: "tok", ...input } })
    .target;
}

/** The shared sample, leaner: no callbackSessionId, one file, no usage figures. */
function callback(overrides: CallbackOverrides = {}): Callback {
  return sampleCallback({
    routing: { callbackSessionId: null, ...overrides.routing },
    report: {
      summary: "Implemented the parser.",
      filesChanged: ["relay/parse.ts"],
      tokens: null,
      cost: null,
      durationMs: 5_000,
      model: null,
      endedAt: 1_700_000_005_000,
      ...overrides.report,
    },
  });
}

const json = (body: string) => JSON.parse(body) as Record<string, unknown>;
const codeOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error instanceof RelayError ? error.code : "not a RelayError";
  }
  return undefined;
};

/** The routing fields as a receiver sees them in this kind of body. */
function routingIn(kind: string, body: Record<string, unknown>): Record<string, unknown> | undefined {
  if (kind === "webhook") return body.data as Record<string, unknown>;
  return parseReportBlock(String(kind === "openclaw-agent" ? body.message : body.text));
}

describe("idempotencyKey", () => {
  it("is stable, header-safe, at most 256 characters, and distinct per dedupe key", () => {
    expect(idempotencyKey("ses_1|run-abc")).toBe(idempotencyKey("ses_1|run-abc"));
    expect(idempotencyKey("ses_1|run-abc")).not.toBe(idempotencyKey("ses_1|run-abd"));
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (key) => {
        expect(idempotencyKey(key)).toMatch(/^ocr_[0-9a-f]{64}$/);
      }),
    );
  });
});

describe("buildRequest for openclaw-agent", () => {
  it("POSTs <hooks>/agent with the caller session, bearer token and idempotency key", () => {
    const cb = callback();
    const request = buildRequest(cb, target(), { summaryMaxChars: 4000 });
    expect(request.url).toBe("http://127.0.0.1:18789/hooks/agent");
    expect(request.method).toBe("POST");
    expect(request.headers).toMatchObject({
      "content-type": "application/json",
      authorization: "Bearer tok",
      "idempotency-key": cb.idempotencyKey,
    });
    const body = json(request.body);
    expect(body).toMatchObject({
      name: "OpenCode",
      sessionKey: "agent:main:main",
      sessionMode: "persistent",
      wakeMode: "now",
      deliver: false,
      idempotencyKey: cb.idempotencyKey,
    });
    expect(body).not.toHaveProperty("agentId");
    expect(body.message).toContain("Implemented the parser.");
    expect(request.truncated).toBe(false);
  });

  it("joins the URL with one slash and keeps a query; sends agentId only when configured", () => {
    const request = buildRequest(callback(), target({ url: "http://gw:1/hooks/?x=1", agentId: "main" }), {
      summaryMaxChars: 4000,
    });
    expect(request.url).toBe("http://gw:1/hooks/agent?x=1");
    expect(json(request.body).agentId).toBe("main");
  });

  it("sends no authorization header without a token", () => {
    const t = configSchema.parse({ target: { url: "http://127.0.0.1:1/hooks" } }).target;
    expect(buildRequest(callback(), t, { summaryMaxChars: 4000 }).headers).not.toHaveProperty(
      "authorization",
    );
  });
});

describe("buildRequest for openclaw-wake", () => {
  it("POSTs <hooks>/wake with {text, mode: now, sessionKey}", () => {
    const request = buildRequest(callback(), target({ kind: "openclaw-wake" }), { summaryMaxChars: 4000 });
    expect(request.url).toBe("http://127.0.0.1:18789/hooks/wake");
    const body = json(request.body);
    expect(Object.keys(body).sort()).toEqual(["mode", "sessionKey", "text"]);
    expect(body).toMatchObject({ mode: "now", sessionKey: "agent:main:main" });
    expect(parseReportBlock(String(body.text))?.runId).toBe("run-abc");
    expect(request.headers.authorization).toBe("Bearer tok");
  });
});

describe("buildRequest for webhook", () => {
  const webhook = (secret: string | string[] = SECRET) =>
    target({ kind: "webhook", url: "http://127.0.0.1:9/in", secret, token: undefined as never });

  it("POSTs the URL itself a signed envelope carrying every routing field", () => {
    const cb = callback({
      routing: { outcome: "failed" },
      report: { error: { name: "E", message: "boom" } },
    });
    const now = () => 1_700_000_010_000;
    const request = buildRequest(cb, webhook(), { summaryMaxChars: 4000, now });
    expect(request.url).toBe("http://127.0.0.1:9/in");
    expect(request.headers["webhook-id"]).toBe(cb.idempotencyKey);
    expect(request.headers["webhook-timestamp"]).toBe("1700000010");
    expect(verifyWebhook([SECRET], request.headers, request.body, { now })).toEqual({ ok: true });
    const body = json(request.body);
    expect(body.type).toBe("opencode.run.failed");
    expect(body.timestamp).toBe(new Date(cb.report.endedAt).toISOString());
    const data = body.data as Record<string, unknown>;
    for (const name of ROUTING_FIELD_NAMES) expect(data[name]).toEqual(cb.routing[name]);
    expect(data.truncated).toBe(false);
    expect(data.message).toContain("boom");
    expect(data.report).toMatchObject({ error: { name: "E", message: "boom" }, filesChangedCount: 1 });
  });

  it("signs once per secret, space-separated, each verifiable on its own", () => {
    const now = () => 1_700_000_010_000;
    const request = buildRequest(callback(), webhook([SECRET, OTHER]), { summaryMaxChars: 4000, now });
    expect(request.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(verifyWebhook([SECRET], request.headers, request.body, { now }).ok).toBe(true);
    expect(verifyWebhook([OTHER], request.headers, request.body, { now }).ok).toBe(true);
  });

  it("refuses a webhook target without a usable secret with CONFIG_INVALID", () => {
    const noSecret = target({ kind: "webhook", url: "http://127.0.0.1:9/in" });
    expect(codeOf(() => buildRequest(callback(), noSecret, { summaryMaxChars: 4000 }))).toBe(
      "CONFIG_INVALID",
    );
    expect(codeOf(() => buildRequest(callback(), webhook("whsec_%%%"), { summaryMaxChars: 4000 }))).toBe(
      "CONFIG_INVALID",
    );
  });

  it("sends the same body at every attempt; only the timestamp and signature change", () => {
    const t = webhook();
    const first = buildRequest(callback(), t, { summaryMaxChars: 4000, now: () => 1_000_000 });
    const second = buildRequest(callback(), t, { summaryMaxChars: 4000, now: () => 2_000_000 });
    expect(second.body).toBe(first.body);
    expect(second.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(second.headers["webhook-timestamp"]).not.toBe(first.headers["webhook-timestamp"]);
  });
});

describe("buildRequest body size", () => {
  it("cuts a 1 MB summary to fit 262,144 bytes and says so", () => {
    const cb = callback({ report: { summary: "é".repeat(1_000_000) } });
    const request = buildRequest(cb, target(), { summaryMaxChars: 200_000 });
    const bytes = Buffer.byteLength(request.body, "utf8");
    expect(bytes).toBeLessThanOrEqual(262_144);
    // Cut to fit, not far below it.
    expect(bytes).toBeGreaterThan(262_144 - 64);
    expect(request.truncated).toBe(true);
    const body = json(request.body);
    expect(body.message).toContain("TRUNCATED");
    expect(parseReportBlock(String(body.message))?.truncated).toBe(true);
  });

  it("reports the whole length of a summary the callback kept only the start of", () => {
    // Accepted with summaryMaxChars 4,000 from a 20,000-character reply (build-callback.ts).
    const kept = { summary: "w".repeat(4_000), summaryLength: 20_000 };
    const agent = json(buildRequest(callback({ report: kept }), target(), { summaryMaxChars: 4_000 }).body);
    expect(agent.message).toContain("Summary (TRUNCATED: first 4000 of 20000 characters):");
    expect(parseReportBlock(String(agent.message))?.truncated).toBe(true);
    const hook = buildRequest(callback({ report: kept }), target({ kind: "webhook", secret: SECRET }), {
      summaryMaxChars: 4_000,
    });
    expect(hook.truncated).toBe(true);
    const data = json(hook.body).data as { report: Record<string, unknown>; truncated: boolean };
    expect(data.truncated).toBe(true);
    expect(data.report.summaryLength).toBe(20_000);
    // The whole length is the report's last figures, as for a summary kept whole.
    expect(Object.keys(data.report).slice(-2)).toEqual(["summaryLength", "filesChangedCount"]);
  });

  it("drops file names after the summary when the summary alone is not enough", () => {
    const files = Array.from({ length: 50 }, (_, i) => `${"d/".repeat(200)}f${i}.ts`);
    const cb = callback({ report: { summary: "s".repeat(10_000), filesChanged: files } });
    const request = buildRequest(cb, target({ maxBodyBytes: 8192 }), { summaryMaxChars: 4000 });
    expect(Buffer.byteLength(request.body, "utf8")).toBeLessThanOrEqual(8192);
    expect(request.truncated).toBe(true);
    expect(json(request.body).message).toContain("and ");
  });

  it("throws PAYLOAD_TOO_LARGE when even the smallest report cannot fit", () => {
    const huge = "x".repeat(1024);
    const cb = callback({
      routing: { taskId: huge, repoRoot: huge, projectId: huge, requestedAgent: huge, resolvedAgent: huge },
    });
    expect(codeOf(() => buildRequest(cb, target({ maxBodyBytes: 4096 }), { summaryMaxChars: 4000 }))).toBe(
      "PAYLOAD_TOO_LARGE",
    );
  });

  it("for any summary, files and routing values: fits, parses, and keeps every routing field", () => {
    const value = fc.string({ unit: "binary", maxLength: 60 });
    fc.assert(
      fc.property(
        fc.constantFrom("openclaw-agent", "openclaw-wake", "webhook") as fc.Arbitrary<
          "openclaw-agent" | "openclaw-wake" | "webhook"
        >,
        fc.constantFrom(4096, 10_000, 262_144),
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 2000 }),
          fc.string({ unit: "grapheme", maxLength: 50 }).map((s) => s.repeat(3000)),
          fc.constantFrom('"\\\n\u0000', "\u{1F600}\uD800").map((s) => s.repeat(50_000)),
        ),
        fc.array(fc.string({ unit: "binary", maxLength: 700 }), { maxLength: 120 }),
        fc.record({
          runId: value.filter((s) => s.length > 0),
          taskId: fc.option(value),
          repoRoot: fc.option(value),
        }),
        (kind, maxBodyBytes, summary, filesChanged, routing) => {
          const cb = callback({ routing, report: { summary, filesChanged } });
          const t = target({ kind, maxBodyBytes, ...(kind === "webhook" ? { secret: SECRET } : {}) });
          const request = buildRequest(cb, t, { summaryMaxChars: 200_000 });
          expect(Buffer.byteLength(request.body, "utf8")).toBeLessThanOrEqual(maxBodyBytes);
          const got = routingIn(kind, json(request.body));
          for (const name of ROUTING_FIELD_NAMES) expect(got?.[name]).toEqual(cb.routing[name]);
          expect(got?.truncated).toBe(request.truncated);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("buildRequest over real HTTP", () => {
  let receiver: RecordingReceiver | undefined;
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  it("arrives at the receiver as built", async () => {
    receiver = await startRecordingReceiver();
    const request = buildRequest(callback(), target({ url: `${receiver.url}/hooks/` }), {
      summaryMaxChars: 4000,
    });
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
    expect(response.status).toBe(200);
    const [got] = await receiver.waitFor(1);
    expect(got?.path).toBe("/hooks/agent");
    expect(got?.headers.authorization).toBe("Bearer tok");
    expect(got?.headers["idempotency-key"]).toBe(callback().idempotencyKey);
    expect(got?.body).toBe(request.body);
  });
});
