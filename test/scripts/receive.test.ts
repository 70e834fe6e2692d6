import { afterEach, describe, expect, it } from "vitest";
import { buildRequest } from "../../relay/callback/build-request.ts";
import type { Callback } from "../../relay/callback/callback.ts";
import { signWebhook } from "../../relay/callback/sign-webhook.ts";
import { configSchema } from "../../relay/config/config-schema.ts";
import type { CliIO } from "../../scripts/cli/cli-io.ts";
import { runReceive } from "../../scripts/cli/commands/receive.ts";
import {
  type ReceivedCallback,
  type RejectedRequest,
  startReceiver,
} from "../../scripts/cli/start-receiver.ts";
import { isUsageError } from "../../scripts/cli/usage-error.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sampleCallback } from "../helpers/sample-callback.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const callback: Callback = sampleCallback({
  routing: { callbackSessionId: null, projectId: null, repoRoot: null },
  report: {
    titleText: "T-1",
    summary: "All done.",
    filesChanged: [],
    tokens: null,
    cost: null,
    durationMs: 1000,
    model: null,
    endedAt: 1_700_000_001_000,
  },
});

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

async function start(options: Parameters<typeof startReceiver>[0] = {}) {
  const accepted: ReceivedCallback[] = [];
  const rejected: RejectedRequest[] = [];
  receiver = await startReceiver({
    port: 0,
    ...options,
    onCallback: (c) => accepted.push(c),
    onRejected: (r) => rejected.push(r),
  });
  return { url: receiver.url, accepted, rejected };
}

function webhookRequest(url: string, now = Date.now) {
  const target = configSchema.parse({ target: { kind: "webhook", url: `${url}/in`, secret: SECRET } }).target;
  return buildRequest(callback, target, { summaryMaxChars: 4000, now });
}

const post = (url: string, headers: Record<string, string>, body: string) =>
  fetch(url, { method: "POST", headers, body });

describe("startReceiver with secrets", () => {
  it("accepts a validly signed webhook and understands it", async () => {
    const { url, accepted } = await start({ secrets: [SECRET] });
    const request = webhookRequest(url);
    const response = await post(request.url, request.headers, request.body);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({
      kind: "webhook",
      path: "/in",
      outcome: "completed",
      runId: "run-abc",
      callbackSession: "agent:main:main",
      idempotencyKey: callback.idempotencyKey,
      truncated: false,
    });
  });

  it("answers 401 to a bad signature", async () => {
    const { url, accepted, rejected } = await start({ secrets: [SECRET] });
    const request = webhookRequest(url);
    const response = await post(request.url, request.headers, request.body.replace("All done.", "All good."));
    expect(response.status).toBe(401);
    expect(accepted).toHaveLength(0);
    expect(rejected[0]?.code).toBe("WEBHOOK_BAD_SIGNATURE");
  });

  it("answers 401 to a missing signature", async () => {
    const { url, rejected } = await start({ secrets: [SECRET] });
    const response = await post(`${url}/in`, { "content-type": "application/json" }, "{}");
    expect(response.status).toBe(401);
    expect(rejected[0]?.code).toBe("WEBHOOK_MISSING_HEADERS");
  });

  it("answers 401 to a timestamp more than 5 minutes old", async () => {
    const { url, rejected } = await start({ secrets: [SECRET] });
    const request = webhookRequest(url, () => Date.now() - 6 * 60_000);
    const response = await post(request.url, request.headers, request.body);
    expect(response.status).toBe(401);
    expect(rejected[0]?.code).toBe("WEBHOOK_STALE_TIMESTAMP");
  });

  it("answers 200 again to a repeat of an accepted webhook-id with the same body, re-signed or not, acting once", async () => {
    const duplicates: string[] = [];
    const { url, accepted, rejected } = await start({
      secrets: [SECRET],
      onDuplicate: (d) => duplicates.push(d.webhookId),
    });
    const first = webhookRequest(url);
    expect((await post(first.url, first.headers, first.body)).status).toBe(200);
    expect((await post(first.url, first.headers, first.body)).status).toBe(200);
    const ts = Math.floor(Date.now() / 1000) + 1;
    const resigned = {
      ...first.headers,
      "webhook-timestamp": String(ts),
      "webhook-signature": signWebhook(SECRET, callback.idempotencyKey, ts, first.body),
    };
    expect((await post(first.url, resigned, first.body)).status).toBe(200);
    expect(accepted).toHaveLength(1);
    expect(duplicates).toEqual([callback.idempotencyKey, callback.idempotencyKey]);
    expect(rejected).toEqual([]);
  });

  it("answers 409 to an accepted webhook-id with another body", async () => {
    const { url, accepted, rejected } = await start({ secrets: [SECRET] });
    const first = webhookRequest(url);
    expect((await post(first.url, first.headers, first.body)).status).toBe(200);
    const body = first.body.replace("All done.", "All good.");
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      ...first.headers,
      "webhook-timestamp": String(ts),
      "webhook-signature": signWebhook(SECRET, callback.idempotencyKey, ts, body),
    };
    expect((await post(first.url, headers, body)).status).toBe(409);
    expect(accepted).toHaveLength(1);
    expect(rejected.map((r) => r.code)).toEqual(["WEBHOOK_REPLAYED"]);
  });

  it("does not remember an id whose request it refused, so a good retry of it is accepted", async () => {
    const { url, accepted } = await start({ secrets: [SECRET] });
    const ts = Math.floor(Date.now() / 1000);
    const signed = (body: string) => ({
      "webhook-id": "msg_1",
      "webhook-timestamp": String(ts),
      "webhook-signature": signWebhook(SECRET, "msg_1", ts, body),
    });
    expect((await post(url, signed("not json"), "not json")).status).toBe(400);
    expect((await post(url, signed("{}"), "{}")).status).toBe(200);
    expect(accepted).toHaveLength(1);
  });

  it("forgets the oldest ids past maxSeenIds", async () => {
    const { url } = await start({ secrets: [SECRET], maxSeenIds: 1 });
    const send = async (id: string, body = "{}") => {
      const ts = Math.floor(Date.now() / 1000);
      const headers = {
        "webhook-id": id,
        "webhook-timestamp": String(ts),
        "webhook-signature": signWebhook(SECRET, id, ts, body),
      };
      return (await post(url, headers, body)).status;
    };
    expect(await send("a")).toBe(200);
    expect(await send("b")).toBe(200);
    expect(await send("b", "[]")).toBe(409);
    // "a" was forgotten: another body under it is no longer a conflict.
    expect(await send("a", "[]")).toBe(200);
  });
});

describe("startReceiver with a token", () => {
  const agentRequest = (url: string, token?: string) => {
    const target = configSchema.parse({
      target: { url: `${url}/hooks`, ...(token === undefined ? {} : { token }) },
    }).target;
    return buildRequest(callback, target, { summaryMaxChars: 4000 });
  };

  it("accepts the right bearer token and reads the routing block of an /agent body", async () => {
    const { url, accepted } = await start({ token: "s3cret" });
    const request = agentRequest(url, "s3cret");
    expect((await post(request.url, request.headers, request.body)).status).toBe(200);
    expect(accepted[0]).toMatchObject({
      kind: "openclaw-agent",
      path: "/hooks/agent",
      outcome: "completed",
      runId: "run-abc",
      callbackSession: "agent:main:main",
    });
    expect(accepted[0]?.message).toContain("All done.");
  });

  it("accepts x-openclaw-token like the gateway", async () => {
    const { url } = await start({ token: "s3cret" });
    const request = agentRequest(url);
    const response = await post(
      request.url,
      { ...request.headers, "x-openclaw-token": "s3cret" },
      request.body,
    );
    expect(response.status).toBe(200);
  });

  it("answers 401 to a wrong or missing bearer token", async () => {
    const { url, accepted, rejected } = await start({ token: "s3cret" });
    const wrong = agentRequest(url, "nope");
    expect((await post(wrong.url, wrong.headers, wrong.body)).status).toBe(401);
    const missing = agentRequest(url);
    expect((await post(missing.url, missing.headers, missing.body)).status).toBe(401);
    expect(accepted).toHaveLength(0);
    expect(rejected.map((r) => r.code)).toEqual(["UNAUTHORIZED", "UNAUTHORIZED"]);
  });
});

describe("startReceiver limits", () => {
  it("answers 413 past maxBodyBytes and 405 to a GET", async () => {
    const { url } = await start({ maxBodyBytes: 10 });
    expect((await post(url, {}, "x".repeat(11))).status).toBe(413);
    expect((await fetch(url)).status).toBe(405);
  });
});

describe("receive command", () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    const cli: CliIO = {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      env: {},
      cwd: process.cwd(),
      color: false,
    };
    return { cli, out, err };
  }

  const waitForListening = (out: string[]): Promise<string> =>
    waitFor("the receiver to print its URL", () => out.join("").match(/^listening on (http:\/\/\S+)$/m)?.[1]);

  it("with --json prints only JSON lines on stdout (the URL goes to stderr), and exits 0 when stopped", async () => {
    const { cli, out, err } = io();
    const controller = new AbortController();
    const done = runReceive(["--port", "0", "--json", "--secret", SECRET], cli, {
      signal: controller.signal,
    });
    const url = await waitForListening(err);
    expect(err[0]).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    const request = webhookRequest(url);
    expect((await post(request.url, request.headers, request.body)).status).toBe(200);
    controller.abort();
    expect(await done).toBe(0);
    // Every stdout line parses: nothing but callbacks there.
    const lines = out.join("").trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ path: "/in", outcome: "completed", runId: "run-abc", kind: "webhook" });
    // The server is gone once the command has returned.
    await expect(fetch(url, { method: "POST", body: "{}" })).rejects.toThrow();
  });

  it("prints a readable block per callback without --json", async () => {
    const { cli, out } = io();
    const controller = new AbortController();
    const done = runReceive(["--port", "0"], cli, { signal: controller.signal });
    const url = await waitForListening(out);
    const target = configSchema.parse({ target: { kind: "openclaw-wake", url } }).target;
    const request = buildRequest(callback, target, { summaryMaxChars: 4000 });
    expect((await post(request.url, request.headers, request.body)).status).toBe(200);
    controller.abort();
    expect(await done).toBe(0);
    const text = out.slice(1).join("");
    expect(text).toContain("POST /wake");
    expect(text).toContain("outcome=completed");
    expect(text).toContain("runId=run-abc");
    expect(text).toContain("session=agent:main:main");
    expect(text).toContain("All done.");
  });

  it("prints its usage for --help and -h, and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const { cli, out } = io();
      expect(await runReceive([flag], cli)).toBe(0);
      expect(out.join("")).toMatch(/^usage: opencode-callback-relay receive/);
    }
  });

  it("rejects a bad port or secret as a usage error, and reports a busy port with exit 1", async () => {
    const { cli, err } = io();
    const usage = async (args: string[]) => runReceive(args, cli).then(() => false, isUsageError);
    expect(await usage(["--port", "x"])).toBe(true);
    expect(await usage(["--port", "70000"])).toBe(true);
    expect(await usage(["--secret", "whsec_%%"])).toBe(true);
    expect(await usage(["--bogus"])).toBe(true);
    expect(await usage(["--jsno"])).toBe(true);
    const { url } = await start();
    const port = new URL(url).port;
    expect(await runReceive(["--port", port], cli)).toBe(1);
    expect(err.join("")).toContain(port);
  });
});
