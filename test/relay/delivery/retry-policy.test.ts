import { describe, expect, it } from "vitest";
import {
  attemptVerdict,
  backoffDelay,
  decideRetry,
  isExpired,
  parseRetryAfter,
  type RetryPolicy,
} from "../../../relay/delivery/retry-policy.ts";

const policy: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  factor: 2,
  maxAgeMs: 3_600_000,
};

describe("backoffDelay", () => {
  it("grows by factor from initialDelayMs and is capped at maxDelayMs (full jitter ceiling)", () => {
    const top = () => 0.999_999;
    expect(backoffDelay(1, policy, top)).toBe(999);
    expect(backoffDelay(2, policy, top)).toBe(1_999);
    expect(backoffDelay(3, policy, top)).toBe(3_999);
    expect(backoffDelay(10, policy, top)).toBe(29_999);
  });

  it("draws uniformly below the ceiling (full jitter)", () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(2_000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(4, policy);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(8_000);
    }
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("reads delta seconds", () => {
    expect(parseRetryAfter("2", now)).toBe(2_000);
    expect(parseRetryAfter(" 60 ", now)).toBe(60_000);
    expect(parseRetryAfter(["5", "9"], now)).toBe(5_000);
  });
  it("reads an HTTP date, a past date as 0", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
  });
  it("ignores what it cannot read", () => {
    for (const bad of [undefined, "", "soon", "-1", "1.5", "1e3"])
      expect(parseRetryAfter(bad, now)).toBeNull();
  });
});

describe("decideRetry", () => {
  const base = { acceptedAt: 0, now: 10_000, retryAfterMs: null, policy, random: () => 0.5 };

  it("backs off when the receiver gave no Retry-After", () => {
    expect(decideRetry({ ...base, attempts: 2 })).toEqual({
      action: "retry",
      delayMs: 1_000,
      dueAt: 11_000,
      source: "backoff",
    });
  });

  it("lets Retry-After win over backoff, capped at maxDelayMs", () => {
    expect(decideRetry({ ...base, attempts: 1, retryAfterMs: 2_000 })).toMatchObject({
      delayMs: 2_000,
      dueAt: 12_000,
      source: "retry-after",
    });
    expect(decideRetry({ ...base, attempts: 1, retryAfterMs: 600_000 })).toMatchObject({ delayMs: 30_000 });
  });

  it("stops at maxAttempts with DELIVERY_RETRIES_EXHAUSTED", () => {
    expect(decideRetry({ ...base, attempts: 5 })).toEqual({
      action: "stop",
      code: "DELIVERY_RETRIES_EXHAUSTED",
    });
  });

  it("stops with DELIVERY_EXPIRED when the next attempt would pass acceptedAt + maxAgeMs", () => {
    const late = { ...base, attempts: 1, now: 3_599_000, retryAfterMs: 2_000 };
    expect(decideRetry(late)).toEqual({ action: "stop", code: "DELIVERY_EXPIRED" });
    expect(decideRetry({ ...late, retryAfterMs: 1_000 })).toMatchObject({ action: "retry" });
  });
});

describe("attemptVerdict", () => {
  it.each([
    [200, "delivered"],
    [204, "delivered"],
    [299, "delivered"],
    [408, "retry"],
    [425, "retry"],
    [429, "retry"],
    [500, "retry"],
    [502, "retry"],
    [503, "retry"],
    [504, "retry"],
    [400, "final"],
    [401, "final"],
    [404, "final"],
    [413, "final"],
    [501, "final"],
    [301, "final"],
  ] as const)("status %i → %s", (status, verdict) => {
    expect(attemptVerdict(status)).toBe(verdict);
  });

  it("retries an attempt that got no answer (network error, timeout)", () => {
    expect(attemptVerdict(undefined)).toBe("retry");
  });
});

describe("isExpired", () => {
  it("expires a callback only once it is older than maxAgeMs", () => {
    expect(isExpired(1_000, 1_000 + policy.maxAgeMs, policy)).toBe(false);
    expect(isExpired(1_000, 1_001 + policy.maxAgeMs, policy)).toBe(true);
  });
});
