import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type AuditLog, openAuditLog } from "../../../relay/audit/audit-log.ts";
import type { AuditRecord } from "../../../relay/audit/audit-record.ts";
import { signWebhook } from "../../../relay/callback/sign-webhook.ts";
import { configSchema } from "../../../relay/config/config-schema.ts";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import {
  type ReceivedCallback,
  type RejectedRequest,
  startReceiver,
} from "../../../scripts/cli/start-receiver.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import { answerLosingProxy } from "../../helpers/answer-losing-proxy.ts";
import { sinkAudit } from "../../helpers/audit-sink.ts";
import { INSTANCE, makeRun } from "../../helpers/relay-fixture.ts";

/**
 * Signed webhooks end to end: the relay (target.kind "webhook", two secrets mid-rotation) against
 * the real dev receiver (`receive`), which verifies Standard Webhooks signatures and replays.
 */

const key = (text: string) => Buffer.from(text).toString("base64");
const OLD_SECRET = `whsec_${key("old-signing-key-for-rotation-01")}`;
const NEW_SECRET = `whsec_${key("new-signing-key-for-rotation-02")}`;
const WRONG_SECRET = `whsec_${key("a-key-the-relay-does-not-have-3")}`;
// The HMAC keys too: a log holding the base64 without its prefix would leak just the same.
const SECRETS = {
  OLD_SECRET,
  NEW_SECRET,
  WRONG_SECRET,
  OLD_KEY: OLD_SECRET.slice(6),
  NEW_KEY: NEW_SECRET.slice(6),
  WRONG_KEY: WRONG_SECRET.slice(6),
};

interface World {
  auditPath: string;
  audit: AuditLog;
  relay: Relay;
  receiverUrl: string;
  callbacks: ReceivedCallback[];
  rejected: RejectedRequest[];
  duplicates: string[];
  records(): Promise<AuditRecord[]>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A relay signing with [OLD, NEW] toward a real receiver that holds `receiverSecrets`; with
 * `loseAnswers`, through a proxy that loses the receiver's first answers (answer-losing-proxy.ts).
 */
async function world(
  receiverSecrets: string[],
  loseAnswers = 0,
  receiverNow: () => number = Date.now,
): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), "ocr-webhook-"));
  const auditPath = join(dir, "audit.jsonl");
  cleanups.push(async () => {
    try {
      await sinkAudit(auditPath, SECRETS);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  const callbacks: ReceivedCallback[] = [];
  const rejected: RejectedRequest[] = [];
  const duplicates: string[] = [];
  const receiver = await startReceiver({
    port: 0,
    secrets: receiverSecrets,
    onCallback: (callback) => callbacks.push(callback),
    onRejected: (refusal) => rejected.push(refusal),
    onDuplicate: (duplicate) => duplicates.push(duplicate.webhookId),
    now: receiverNow,
  });
  cleanups.push(() => receiver.close());
  let targetBase = receiver.url;
  if (loseAnswers > 0) {
    const proxy = await answerLosingProxy(Number(new URL(receiver.url).port), loseAnswers);
    cleanups.push(() => proxy.close());
    targetBase = proxy.url;
  }
  // The log is not told the secrets: what is proven is that the relay never hands them over,
  // not that redaction caught them on the way in.
  const audit = openAuditLog({ path: auditPath });
  const config = configSchema.parse({
    target: { kind: "webhook", url: `${targetBase}/webhooks/opencode`, secret: [OLD_SECRET, NEW_SECRET] },
    delivery: { initialDelayMs: 10, maxDelayMs: 50, timeoutMs: 2_000, maxAttempts: 3 },
  });
  const relay = createRelay({ config, instance: INSTANCE, audit, stateDir: join(dir, "state") });
  cleanups.push(() => relay.close());
  return {
    auditPath,
    audit,
    relay,
    receiverUrl: receiver.url,
    callbacks,
    rejected,
    duplicates,
    async records() {
      await audit.flush();
      const text = await readFile(auditPath, "utf8");
      expect(text).not.toContain("whsec_");
      return text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as AuditRecord);
    },
  };
}

/** POST `body` as a webhook signed by `secret`, with a fresh timestamp; the status answered. */
async function postSigned(url: string, secret: string, id: string, body: string): Promise<number> {
  const timestamp = Math.floor(Date.now() / 1000);
  const response = await fetch(`${url}/webhooks/opencode`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signWebhook(secret, id, timestamp, body),
    },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

describe("webhook delivery to the receive command's receiver", () => {
  it.each([
    ["only the new secret (rotation done)", NEW_SECRET],
    ["only the old secret (rotation not yet picked up)", OLD_SECRET],
  ])("is accepted by a receiver holding %s", async (_name, receiverSecret) => {
    const w = await world([receiverSecret]);
    w.relay.submit(makeRun("wh1"));
    await w.relay.drain();

    const records = await w.records();
    expect(records.map((r) => r.phase)).toEqual(["accepted", "attempt", "delivered"]);
    expect(records[1]).toMatchObject({ kind: "webhook", status: 200, result: "delivered" });
    expect(w.rejected).toEqual([]);
    expect(w.callbacks).toHaveLength(1);
    expect(w.callbacks[0]).toMatchObject({
      kind: "webhook",
      path: "/webhooks/opencode",
      runId: "wh1",
      outcome: "completed",
      callbackSession: "agent:main:main",
      idempotencyKey: records[0]?.idempotencyKey,
    });
  });

  it("answers 2xx again to a repeat of the delivered request, 409 to its webhook-id with another body", async () => {
    const w = await world([NEW_SECRET]);
    w.relay.submit(makeRun("wh2"));
    await w.relay.drain();
    const records = await w.records();
    const delivered = records.find((r) => r.phase === "delivered");
    const attempt = records.find((r) => r.phase === "attempt");
    expect(delivered).toBeDefined();
    const id = String(delivered?.idempotencyKey);
    // The captured body, byte for byte (the receiver parsed it; JSON.stringify gives it back).
    const body = JSON.stringify(w.callbacks[0]?.body);
    expect(Buffer.byteLength(body)).toBe(attempt?.requestBytes);

    // The relay's webhook-id is the audit's idempotency key: a repeat of that id with the same
    // body (a retry whose first answer was lost) is answered 200 and not acted on twice ...
    expect(await postSigned(w.receiverUrl, NEW_SECRET, id, body)).toBe(200);
    expect(w.duplicates).toEqual([id]);
    expect(w.callbacks).toHaveLength(1);
    // ... and the same id with another body is a conflict.
    expect(await postSigned(w.receiverUrl, NEW_SECRET, id, body.replace("wh2", "wh9"))).toBe(409);
    expect(w.rejected).toEqual([expect.objectContaining({ status: 409, code: "WEBHOOK_REPLAYED" })]);
    expect(w.callbacks).toHaveLength(1);
  });

  it("is delivered once when the receiver's first answer is lost: the retry is answered 2xx", async () => {
    const w = await world([NEW_SECRET], 1);
    w.relay.submit(makeRun("wh4"));
    // drain() does not wait for a scheduled retry: wait until the retry has reached the receiver,
    // then for its attempt to be recorded.
    await waitFor("the retry to reach the receiver", () => (w.duplicates.length > 0 ? true : undefined));
    await w.relay.drain();

    const records = await w.records();
    expect(records.map((r) => r.phase)).toEqual([
      "accepted",
      "attempt",
      "retry_scheduled",
      "attempt",
      "delivered",
    ]);
    expect(records[3]).toMatchObject({ status: 200, result: "delivered" });
    expect(w.callbacks).toHaveLength(1);
    expect(w.duplicates).toEqual([records[0]?.idempotencyKey]);
    expect(w.rejected).toEqual([]);
  });

  it("is refused with 401 by a receiver holding neither secret: one attempt, failed DELIVERY_UNAUTHORIZED", async () => {
    const w = await world([WRONG_SECRET]);
    w.relay.submit(makeRun("wh3"));
    await w.relay.drain();

    const records = await w.records();
    expect(records.map((r) => r.phase)).toEqual(["accepted", "attempt", "failed"]);
    expect(records[1]).toMatchObject({ kind: "webhook", status: 401, code: "DELIVERY_UNAUTHORIZED" });
    expect(records[2]).toMatchObject({ code: "DELIVERY_UNAUTHORIZED", attempts: 1, runId: "wh3" });
    expect(w.rejected).toEqual([expect.objectContaining({ status: 401, code: "WEBHOOK_BAD_SIGNATURE" })]);
    expect(w.callbacks).toEqual([]);
  });

  it("is refused as a stale timestamp by a receiver whose clock is 10 minutes ahead: DELIVERY_STALE_TIMESTAMP, not a token hint", async () => {
    const w = await world([NEW_SECRET], 0, () => Date.now() + 10 * 60_000);
    w.relay.submit(makeRun("wh5"));
    await w.relay.drain();

    const records = await w.records();
    expect(records.map((r) => r.phase)).toEqual(["accepted", "attempt", "failed"]);
    expect(records[1]).toMatchObject({ status: 401, code: "DELIVERY_STALE_TIMESTAMP" });
    expect(records[2]).toMatchObject({ code: "DELIVERY_STALE_TIMESTAMP", runId: "wh5" });
    expect(w.rejected).toEqual([expect.objectContaining({ status: 401, code: "WEBHOOK_STALE_TIMESTAMP" })]);
  });
});
