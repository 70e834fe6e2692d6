import { Agent } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  classifyStatus,
  defaultTransport,
  RESPONSE_EXCERPT_CHARS,
  sendAttempt,
  type WireRequest,
} from "../../../relay/delivery/send-attempt.ts";
import { escapedEchoes } from "../../helpers/escaped-echoes.ts";
import {
  type RecordingReceiver,
  type Reply,
  startRecordingReceiver,
} from "../../helpers/recording-receiver.ts";

let receiver: RecordingReceiver;
let agent: Agent;

beforeEach(async () => {
  receiver = await startRecordingReceiver();
  agent = new Agent({ keepAliveTimeout: 5_000 });
});
afterEach(async () => {
  await agent.close();
  await receiver.close();
});

const wire = (url = `${receiver.url}/hooks/agent`): WireRequest => ({
  url,
  method: "POST",
  headers: { "content-type": "application/json", authorization: "Bearer sekret-token" },
  body: JSON.stringify({ message: "hello ✓" }),
});

function reply(r: Reply) {
  receiver.respondWith(() => r);
}

describe("classifyStatus", () => {
  it.each([
    [200, "", "delivered", undefined],
    [202, "", "delivered", undefined],
    [204, "", "delivered", undefined],
    [408, "", "retry", "DELIVERY_HTTP_STATUS"],
    [425, "", "retry", "DELIVERY_HTTP_STATUS"],
    [429, "", "retry", "DELIVERY_HTTP_STATUS"],
    [500, "", "retry", "DELIVERY_HTTP_STATUS"],
    [502, "", "retry", "DELIVERY_HTTP_STATUS"],
    [503, "", "retry", "DELIVERY_HTTP_STATUS"],
    [504, "", "retry", "DELIVERY_HTTP_STATUS"],
    [401, "Unauthorized", "final", "DELIVERY_UNAUTHORIZED"],
    [413, "", "final", "DELIVERY_PAYLOAD_TOO_LARGE"],
    [400, '{"error":"sessionKey is disabled for externally…"}', "final", "DELIVERY_SESSION_KEY_DISABLED"],
    [400, "sessionKey must start with one of: hook:", "final", "DELIVERY_SESSION_KEY_PREFIX"],
    [400, "message required", "final", "DELIVERY_HTTP_STATUS"],
    [404, "", "final", "DELIVERY_HTTP_STATUS"],
    [409, "", "final", "DELIVERY_HTTP_STATUS"],
    [301, "", "final", "DELIVERY_HTTP_STATUS"],
    // A stale webhook-timestamp is a clock problem, whatever the receiver's library calls it.
    [400, "Message timestamp too old", "final", "DELIVERY_STALE_TIMESTAMP"],
    [401, '{"error":"Message timestamp too new"}', "final", "DELIVERY_STALE_TIMESTAMP"],
    [400, "Timestamp outside the tolerance zone", "final", "DELIVERY_STALE_TIMESTAMP"],
    [401, "invalid signature", "final", "DELIVERY_UNAUTHORIZED"],
    [400, "timestamp header missing", "final", "DELIVERY_HTTP_STATUS"],
  ])("%i %j → %s %s", (status, body, verdict, code) => {
    expect(classifyStatus(status, body)).toEqual(code === undefined ? { verdict } : { verdict, code });
  });
});

describe.each(["undici", "fetch"] as const)("sendAttempt through %s", (transport) => {
  it("posts the wire request and reports a 2xx as delivered with sizes and timing", async () => {
    const result = await sendAttempt(wire(), { dispatcher: agent, transport, timeoutMs: 2_000 });
    expect(result).toMatchObject({
      verdict: "delivered",
      result: "delivered",
      status: 200,
      retryAfterMs: null,
    });
    expect(result.bytes).toBe(Buffer.byteLength(wire().body));
    expect(result.responseExcerpt).toBe('{"ok":true,"runId":"r-1"}');
    expect(receiver.requests[0]?.body).toBe(wire().body);
    expect(receiver.requests[0]?.headers.authorization).toBe("Bearer sekret-token");
  });

  it("reads Retry-After on a retryable answer", async () => {
    reply({ status: 429, body: "slow down", headers: { "retry-after": "2" } });
    const result = await sendAttempt(wire(), { dispatcher: agent, transport, timeoutMs: 2_000 });
    expect(result).toMatchObject({
      verdict: "retry",
      status: 429,
      retryAfterMs: 2_000,
      code: "DELIVERY_HTTP_STATUS",
    });
  });

  it("reads a Retry-After given as an HTTP date (which holds a comma)", async () => {
    const now = Date.parse("2026-12-02T10:00:00Z");
    reply({ status: 503, body: "busy", headers: { "retry-after": "Wed, 02 Dec 2026 10:00:30 GMT" } });
    const result = await sendAttempt(wire(), {
      dispatcher: agent,
      transport,
      timeoutMs: 2_000,
      now: () => now,
    });
    expect(result).toMatchObject({ verdict: "retry", status: 503, retryAfterMs: 30_000 });
  });

  it("does not follow a redirect: the 3xx is the answer, and nothing else is sent", async () => {
    reply({ status: 307, body: "", headers: { location: "/elsewhere" } });
    const result = await sendAttempt(wire(), { dispatcher: agent, transport, timeoutMs: 2_000 });
    expect(result).toMatchObject({ status: 307, result: "failed" });
    expect(receiver.requests.map((r) => r.path)).toEqual(["/hooks/agent"]);
  });

  it("classifies a plain-text 400 without assuming JSON and keeps a short, redacted excerpt", async () => {
    reply({
      status: 400,
      body: `sessionKey must start with one of: hook: (got sekret-token) ${"x".repeat(1_000)}`,
    });
    const result = await sendAttempt(wire(), {
      dispatcher: agent,
      transport,
      timeoutMs: 2_000,
      secrets: ["sekret-token"],
    });
    expect(result).toMatchObject({ verdict: "final", code: "DELIVERY_SESSION_KEY_PREFIX", result: "failed" });
    expect(result.responseExcerpt.length).toBeLessThanOrEqual(RESPONSE_EXCERPT_CHARS);
    expect(result.responseExcerpt).not.toContain("sekret-token");
    expect(typeof result.hint).toBe("string");
  });

  it("keeps a token out of the excerpt however the receiver's error page escapes it", async () => {
    const token = 'tok"\\{<&+ é';
    const echoes = Object.values(escapedEchoes(token));
    reply({ status: 401, body: `bad token: ${echoes.join(" | ")}` });
    const result = await sendAttempt(
      { ...wire(), headers: { "content-type": "application/json" } },
      { dispatcher: agent, transport, timeoutMs: 2_000, secrets: [token] },
    );
    expect(result).toMatchObject({ code: "DELIVERY_UNAUTHORIZED" });
    expect(result.responseExcerpt).toContain("bad token");
    for (const echo of echoes) expect(result.responseExcerpt).not.toContain(echo);
  });

  it("consumes a large answer and keeps the connection usable", async () => {
    reply({ status: 500, body: "e".repeat(200_000) });
    const first = await sendAttempt(wire(), { dispatcher: agent, transport, timeoutMs: 2_000 });
    expect(first).toMatchObject({ verdict: "retry", status: 500 });
    reply({ status: 200, body: "ok" });
    const second = await sendAttempt(wire(), { dispatcher: agent, transport, timeoutMs: 2_000 });
    expect(second.verdict).toBe("delivered");
  });

  it("reports a refused connection as a retryable network failure, not unknown", async () => {
    const closed = await startRecordingReceiver();
    const url = `${closed.url}/hooks/agent`;
    await closed.close();
    const result = await sendAttempt(wire(url), { dispatcher: agent, transport, timeoutMs: 2_000 });
    expect(result).toMatchObject({ verdict: "retry", result: "failed", code: "DELIVERY_NETWORK" });
    expect(result.status).toBeUndefined();
  });

  it("reports a connection dropped after sending as a network failure with unknown result", async () => {
    reply({ status: 200, destroy: true });
    const result = await sendAttempt(wire(), { dispatcher: agent, transport, timeoutMs: 2_000 });
    expect(result).toMatchObject({ verdict: "retry", result: "unknown", code: "DELIVERY_NETWORK" });
  });

  it("times out a slow receiver as DELIVERY_TIMEOUT with unknown result", async () => {
    reply({ status: 200, delayMs: 1_000 });
    const result = await sendAttempt(wire(), { dispatcher: agent, transport, timeoutMs: 150 });
    expect(result).toMatchObject({ verdict: "retry", result: "unknown", code: "DELIVERY_TIMEOUT" });
    expect(result.durationMs).toBeLessThan(900);
  });

  it("never rejects, even for an unusable URL", async () => {
    const result = await sendAttempt(wire("http://[::1"), { dispatcher: agent, transport, timeoutMs: 200 });
    expect(result.verdict).toBe("retry");
  });
});

describe("defaultTransport", () => {
  it("sends through fetch in Bun and through undici in Node", () => {
    expect(defaultTransport({}, true)).toBe("fetch");
    expect(defaultTransport({}, false)).toBe("undici");
  });

  it.each(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])(
    "keeps undici in Bun while %s is set: Bun's fetch would send the callback through the proxy",
    (name) => {
      expect(defaultTransport({ [name]: "http://proxy.example:3128" }, true)).toBe("undici");
      expect(defaultTransport({ [name]: "" }, true)).toBe("fetch");
    },
  );
});
