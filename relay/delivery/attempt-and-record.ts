import type { Dispatcher } from "undici";
import type { AuditInput } from "../audit/index.ts";
import { buildRequest, type Callback, callbackIds } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { targetSecrets } from "../config/index.ts";
import { type ErrorCode, type RelayError, toRelayError } from "../errors/index.ts";
import type { AttemptVerdict } from "./retry-policy.ts";
import type { semaphore } from "./semaphore.ts";
import { type AttemptResult, attemptFields, sendAttempt } from "./send-attempt.ts";

export interface AttemptAndRecordOptions {
  callback: Callback;
  /** The number this attempt gets (1-based, counting every earlier attempt and redelivery). */
  attempt: number;
  config: RelayConfig;
  /** The keep-alive dispatcher the request goes through. */
  dispatcher: Dispatcher;
  now: () => number;
  /** Appends an audit record; never rejects. */
  record(input: AuditInput): Promise<void>;
  /**
   * Removes the delivered callback from the state dir. Runs before `delivered` is recorded: a
   * crash in between must never lead to a delivered callback being sent again.
   */
  forget(): Promise<void>;
  /** Bounds requests in flight; a slot is held only while sending. @default unbounded */
  slots?: ReturnType<typeof semaphore>;
  /** Asked once a slot is held: false sends nothing (the relay is closing). @default () => true */
  stillWanted?: () => boolean;
  /**
   * Called once the answer is in (`delivered`: whether it was a 2xx), before anything is recorded
   * or forgotten; what it returns is awaited. Must not reject.
   */
  ready?: (delivered: boolean) => Promise<void> | undefined;
  /** An operator's redelivery: its records say so. @default false */
  redelivery?: boolean;
}

/** What became of one attempt. */
export type AttemptOutcome =
  /** Nothing was sent: `stillWanted()` said no. */
  | { kind: "skipped" }
  /** The request could not be built (CONFIG_INVALID, PAYLOAD_TOO_LARGE): no attempt will do better. */
  | { kind: "unsendable"; error: RelayError }
  | { kind: "delivered"; result: AttemptResult }
  | {
      kind: Exclude<AttemptVerdict, "delivered">;
      result: AttemptResult;
      /** The failed attempt's code. */
      code: ErrorCode;
      /** `unknown` when the request may have reached the receiver. */
      lastResult: "failed" | "unknown";
    };

/**
 * Send one attempt of a callback and record it: the one path of delivery and redelivery. Builds
 * the request from the current configuration, sends it (secrets kept out of the audit), writes the
 * `attempt` record and, when delivered, forgets the callback and writes `delivered`. What follows a
 * failed attempt (a retry, the failed entry, the `failed` record) is the caller's: the delivery
 * loop and a redelivery treat it differently. Never rejects unless `record`/`forget` do.
 */
export async function attemptAndRecord(options: AttemptAndRecordOptions): Promise<AttemptOutcome> {
  const { callback, config, now, record } = options;
  const { target, delivery } = config;
  let result: AttemptResult;
  let url: string;
  // A free slot is taken at once: the request leaves on the caller's stack (accept-run.ts says why).
  const slots = options.slots;
  if (slots !== undefined && !slots.tryAcquire()) await slots.acquire();
  try {
    if (options.stillWanted?.() === false) return { kind: "skipped" };
    const wire = buildRequest(callback, target, { summaryMaxChars: config.summaryMaxChars, now });
    url = wire.url;
    result = await sendAttempt(wire, {
      dispatcher: options.dispatcher,
      timeoutMs: delivery.timeoutMs,
      secrets: targetSecrets(target),
      now,
    });
  } catch (error) {
    return { kind: "unsendable", error: toRelayError(error) };
  } finally {
    options.slots?.release();
  }
  await options.ready?.(result.verdict === "delivered");
  const ids = callbackIds(callback);
  const redelivery = options.redelivery ? { redelivery: true } : {};
  await record({
    ...ids,
    phase: "attempt",
    ...redelivery,
    ...attemptFields(result, { attempt: options.attempt, url, kind: target.kind }),
  });
  if (result.verdict === "delivered") {
    await options.forget();
    await record({
      ...ids,
      phase: "delivered",
      attempts: options.attempt,
      status: result.status ?? 0,
      ...redelivery,
    });
    return { kind: "delivered", result };
  }
  return {
    kind: result.verdict,
    result,
    code: result.code ?? "DELIVERY_HTTP_STATUS",
    lastResult: result.result === "unknown" ? "unknown" : "failed",
  };
}
