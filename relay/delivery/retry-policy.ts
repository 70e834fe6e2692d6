/**
 * Every retry decision of the relay, in one place (DESIGN.md "Delivery"): which answers are worth
 * another attempt, how long to wait, and when to give up. The values come from `delivery.*` in the
 * configuration (config-schema.ts applies the defaults named here); this file only decides, so it
 * is pure and tested without a clock or a network.
 */
export interface RetryPolicy {
  /** Attempts before DELIVERY_RETRIES_EXHAUSTED, the first included. @default 12 */
  maxAttempts: number;
  /** Ceiling of the first backoff delay, in ms. @default 1000 (1 s) */
  initialDelayMs: number;
  /** Largest backoff delay and largest honoured `Retry-After`, in ms. @default 300000 (5 min) */
  maxDelayMs: number;
  /** Growth of the backoff ceiling per failed attempt. @default 2 */
  factor: number;
  /** Age (since accepted) past which a callback is given up as DELIVERY_EXPIRED, in ms. @default 86400000 (24 h) */
  maxAgeMs: number;
}

/** What one attempt means for the callback: done, worth another attempt, or final. */
export type AttemptVerdict = "delivered" | "retry" | "final";

/** Statuses that say "try again later"; 503 is OpenClaw's busy caller session. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * The verdict on one attempt from its HTTP status: 2xx is delivered, a retryable status is retried,
 * every other status is final. No status (a network error or a timeout: the receiver never
 * answered) is retried; a timeout with the same idempotency key, since the receiver may have acted.
 */
export function attemptVerdict(status: number | undefined): AttemptVerdict {
  if (status === undefined) return "retry";
  if (status >= 200 && status < 300) return "delivered";
  return RETRYABLE_STATUSES.has(status) ? "retry" : "final";
}

/** Whether a callback accepted at `acceptedAt` is too old for any further attempt. */
export function isExpired(acceptedAt: number, now: number, policy: Pick<RetryPolicy, "maxAgeMs">): boolean {
  return now > acceptedAt + policy.maxAgeMs;
}

/** Node clamps timers above 2^31-1 ms to 1 ms; never hand it a longer delay. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** What to do after a retryable failure. */
export type RetryDecision =
  | {
      action: "retry";
      /** Milliseconds from `now` until the next attempt. */
      delayMs: number;
      /** Epoch ms of the next attempt. */
      dueAt: number;
      /** Whether the receiver's `Retry-After` or our own backoff chose the delay. */
      source: "retry-after" | "backoff";
    }
  | { action: "stop"; code: "DELIVERY_RETRIES_EXHAUSTED" | "DELIVERY_EXPIRED" };

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(maxDelayMs, initialDelayMs ×
 * factor^(failedAttempts-1))]. Full jitter spreads a burst of callbacks that failed together (a
 * gateway restart) instead of bringing them back in lockstep.
 *
 * @param failedAttempts attempts made so far (≥ 1).
 * @param random a uniform [0, 1) source; injected for tests.
 */
export function backoffDelay(
  failedAttempts: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
) {
  const exponent = Math.max(0, failedAttempts - 1);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** exponent);
  return Math.floor(random() * ceiling);
}

/**
 * Parse a `Retry-After` header (delta seconds or an HTTP date) into milliseconds from `now`.
 * Returns null when absent or unparseable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return null;
  const text = raw.trim();
  if (text === "") return null;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date must name a weekday or month; Date.parse alone also takes "1.5" and similar.
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/**
 * Decide whether a callback that just failed retryably gets another attempt.
 * `Retry-After` wins over backoff (capped at maxDelayMs); no attempt is scheduled past
 * maxAttempts or past `acceptedAt + maxAgeMs`.
 */
export function decideRetry(input: {
  /** Attempts made so far, the one that just failed included. */
  attempts: number;
  acceptedAt: number;
  now: number;
  /** From parseRetryAfter(); null when the receiver did not say. */
  retryAfterMs: number | null;
  policy: RetryPolicy;
  random?: () => number;
}): RetryDecision {
  const { attempts, acceptedAt, now, retryAfterMs, policy } = input;
  if (attempts >= policy.maxAttempts) return { action: "stop", code: "DELIVERY_RETRIES_EXHAUSTED" };
  const cap = Math.min(policy.maxDelayMs, MAX_TIMER_DELAY_MS);
  const fromHeader = retryAfterMs !== null;
  const delayMs = Math.min(cap, fromHeader ? retryAfterMs : backoffDelay(attempts, policy, input.random));
  const dueAt = now + delayMs;
  if (dueAt > acceptedAt + policy.maxAgeMs) return { action: "stop", code: "DELIVERY_EXPIRED" };
  return { action: "retry", delayMs, dueAt, source: fromHeader ? "retry-after" : "backoff" };
}
