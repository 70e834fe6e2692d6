import { randomUUID } from "node:crypto";
import { buildRequest, type Callback, idempotencyKey } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { targetSecrets } from "../config/index.ts";
import { type ErrorCode, toRelayError } from "../errors/index.ts";
import { Agent } from "./http-client.ts";
import { sendAttempt } from "./send-attempt.ts";

/** What the receiver said to a test callback. No secrets: the excerpt is redacted. */
export interface TestCallbackResult {
  delivered: boolean;
  /** The run id the test callback carried (`doctor-test-<uuid>`), to find it in the receiver's transcript. */
  runId: string;
  url: string;
  status?: number;
  code?: ErrorCode;
  hint?: string;
  durationMs: number;
  responseExcerpt: string;
}

/** Words at the start of every test callback's title and summary, so no one mistakes it for a run. */
export const TEST_CALLBACK_LABEL = "TEST CALLBACK from `opencode-callback-relay doctor --send-test`";

/**
 * Send ONE clearly labelled test callback to the configured target, addressed to `callbackSession`,
 * along the exact route a real one takes (same request builder, same headers, same signing), and
 * classify the answer like a real attempt. No retry, no outbox, no audit record: it is the
 * operator's probe, not a run. A fresh run id each time, so the receiver never takes it for a
 * duplicate. Never rejects.
 *
 * @param options.now epoch-ms clock @default Date.now
 */
export async function sendTestCallback(
  config: RelayConfig,
  options: { callbackSession: string; now?: () => number },
): Promise<TestCallbackResult> {
  const now = options.now ?? Date.now;
  const at = now();
  const runId = `doctor-test-${randomUUID()}`;
  const sessionId = "doctor-test";
  const dedupeKey = `${sessionId}|${runId}`;
  const callback: Callback = {
    dedupeKey,
    idempotencyKey: idempotencyKey(dedupeKey),
    acceptedAt: at,
    routing: {
      runId,
      taskId: null,
      requestedAgent: null,
      resolvedAgent: null,
      actualAgent: null,
      fallbackUsed: false,
      callbackSession: options.callbackSession,
      callbackSessionId: null,
      opencodeSessionId: sessionId,
      projectId: null,
      repoRoot: null,
      outcome: "completed",
    },
    report: {
      titleText: TEST_CALLBACK_LABEL,
      error: null,
      summary: `${TEST_CALLBACK_LABEL}. No OpenCode run is behind it and no action is needed: it checks that callbacks reach this session.`,
      filesChanged: [],
      tokens: null,
      cost: null,
      durationMs: 0,
      model: null,
      startedAt: at,
      endedAt: at,
    },
  };
  const agent = new Agent({ connect: { timeout: config.delivery.timeoutMs } });
  try {
    const wire = buildRequest(callback, config.target, { summaryMaxChars: config.summaryMaxChars, now });
    const result = await sendAttempt(wire, {
      dispatcher: agent,
      timeoutMs: config.delivery.timeoutMs,
      secrets: targetSecrets(config.target),
      now,
    });
    return {
      delivered: result.verdict === "delivered",
      runId,
      url: wire.url,
      ...(result.status === undefined ? {} : { status: result.status }),
      ...(result.code === undefined ? {} : { code: result.code }),
      ...(result.hint === undefined ? {} : { hint: result.hint }),
      durationMs: result.durationMs,
      responseExcerpt: result.responseExcerpt,
    };
  } catch (error) {
    // buildRequest refuses a webhook without a usable secret, or a report that cannot fit.
    const err = toRelayError(error);
    return {
      delivered: false,
      runId,
      url: config.target.url,
      code: err.code,
      hint: err.hint,
      durationMs: 0,
      responseExcerpt: err.message,
    };
  } finally {
    await agent.close().catch(() => undefined);
  }
}
