import { performance } from "node:perf_hooks";
import type { Dispatcher } from "undici";
import { redact } from "../audit/index.ts";
import { rememberLast } from "../callback/index.ts";
import { ERROR_CODES, type ErrorCode } from "../errors/index.ts";
import { exchange } from "./exchange.ts";
import { exchangeViaFetch } from "./exchange-fetch.ts";
import { type AttemptVerdict, attemptVerdict, parseRetryAfter } from "./retry-policy.ts";

/** The parts of a built request that go on the wire (see build-request.ts). */
export interface WireRequest {
  url: string;
  method: "POST";
  headers: Record<string, string>;
  body: string;
}

/** One HTTP attempt, classified, with everything the `attempt` audit record needs (and no secrets). */
export interface AttemptResult {
  verdict: AttemptVerdict;
  /**
   * `unknown` when the request may have reached the receiver and we cannot tell whether it acted
   * (a timeout, a connection dropped after sending): retried with the same idempotency key.
   */
  result: "delivered" | "failed" | "unknown";
  /** HTTP status, when an answer arrived. */
  status?: number;
  /** Set unless delivered. */
  code?: ErrorCode;
  hint?: string;
  /** Request body size in bytes. */
  bytes: number;
  durationMs: number;
  /** The first 300 characters of the answer (or the network error), secrets replaced. */
  responseExcerpt: string;
  /** From `Retry-After`, in ms; null when absent. */
  retryAfterMs: number | null;
}

export interface SendAttemptOptions {
  /** The relay's keep-alive dispatcher. */
  dispatcher: Dispatcher;
  /** The whole attempt (connect, send, headers, body) must finish within this, ms. */
  timeoutMs: number;
  /** Strings never to echo into the excerpt (token, signing secrets). */
  secrets?: readonly string[];
  /** Epoch-ms clock for Retry-After dates. @default Date.now */
  now?: () => number;
  /**
   * How the request leaves: undici's `dispatcher`, or the runtime's `fetch` (the dispatcher is then
   * unused). @default defaultTransport(): "fetch" in Bun unless a proxy variable is set, else "undici"
   */
  transport?: "undici" | "fetch";
}

/** Longest excerpt kept of an answer. */
export const RESPONSE_EXCERPT_CHARS = 300;
/** Answer bytes read for the excerpt and classification; the rest is discarded. */
const MAX_READ_BYTES = 16 * 1024;
/** Longest wait for those bytes once the status line is in, ms (never past the attempt's timeout). */
export const EXCERPT_READ_MS = 1_000;

/**
 * Classify an answer by status and (possibly plain-text) body: the verdict is retry-policy.ts's,
 * the code the most specific one the answer allows (a hint for the operator), none when delivered.
 */
export function classifyStatus(status: number, body: string): { verdict: AttemptVerdict; code?: ErrorCode } {
  const verdict = attemptVerdict(status);
  if (verdict === "delivered") return { verdict };
  return { verdict, code: statusCode(status, body) };
}

function statusCode(status: number, body: string): ErrorCode {
  // Standard Webhooks receivers refuse a timestamp outside their tolerance with 400/401 and say so
  // ("Message timestamp too old"): the fix is the clocks, not the token or the secret.
  if ((status === 400 || status === 401) && STALE_TIMESTAMP.test(body)) return "DELIVERY_STALE_TIMESTAMP";
  if (status === 401) return "DELIVERY_UNAUTHORIZED";
  if (status === 413) return "DELIVERY_PAYLOAD_TOO_LARGE";
  if (status === 400 && /sessionKey is disabled/i.test(body)) return "DELIVERY_SESSION_KEY_DISABLED";
  if (status === 400 && /sessionKey must start with/i.test(body)) return "DELIVERY_SESSION_KEY_PREFIX";
  return "DELIVERY_HTTP_STATUS";
}

/** A refusal that names the timestamp and why (svix/standardwebhooks, Stripe, our `receive`). */
const STALE_TIMESTAMP = /timestamp.{0,40}(too old|too new|tolerance|stale|expired|skew)/is;

/**
 * Make one HTTP attempt and classify it. Never rejects: every failure is a result. The status line
 * decides (a 2xx is delivered); the body is read only for the excerpt and a 4xx's reason, bounded
 * by MAX_READ_BYTES and EXCERPT_READ_MS, and always consumed or destroyed so no socket leaks.
 */
export async function sendAttempt(wire: WireRequest, options: SendAttemptOptions): Promise<AttemptResult> {
  const now = options.now ?? Date.now;
  // A receiver may echo what it got (an auth header in an error page): never into the audit.
  const secrets = options.secrets ?? [];
  const scrub = (text: string) => redact(text, secrets) as string;
  const bytes = Buffer.byteLength(wire.body);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let sent = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const request = {
      dispatcher: options.dispatcher,
      method: wire.method,
      headers: wire.headers,
      body: wire.body,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      maxBytes: MAX_READ_BYTES,
      excerptMs: EXCERPT_READ_MS,
    };
    const exchanged =
      (options.transport ?? defaultTransport()) === "fetch"
        ? exchangeViaFetch(wire.url, request)
        : exchange(wire.url, request);
    // headers/body timeouts do not cover connecting or a slow trickle: bound the whole attempt.
    timer = setTimeout(() => exchanged.abort(timeoutReason()), options.timeoutMs);
    timer.unref?.();
    const answer = await exchanged.answer;
    sent = true;
    const status = answer.status;
    const text = answer.body.toString("utf8");
    const { verdict, code } = classifyStatus(status, text);
    const result: AttemptResult = {
      verdict,
      result: verdict === "delivered" ? "delivered" : "failed",
      status,
      bytes,
      durationMs: elapsed(),
      responseExcerpt: excerpt(scrub(text)),
      retryAfterMs: verdict === "retry" ? parseRetryAfter(answer.retryAfter, now()) : null,
    };
    if (code !== undefined) {
      result.code = code;
      result.hint = ERROR_CODES[code].hint;
    }
    return result;
  } catch (error) {
    const failure = describeFailure(error, sent);
    return {
      verdict: attemptVerdict(undefined),
      result: failure.unknown ? "unknown" : "failed",
      code: failure.code,
      hint: ERROR_CODES[failure.code].hint,
      bytes,
      durationMs: elapsed(),
      responseExcerpt: excerpt(scrub(failure.text)),
      retryAfterMs: null,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Proxy settings Bun's `fetch` follows on its own; undici's Agent follows none. */
const PROXY_VARIABLES = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/**
 * How a request leaves: in Bun (OpenCode's runtime) through its own `fetch`, which writes at once
 * (exchange-fetch.ts says why); in Node through undici's dispatcher. Also through undici in Bun
 * while a proxy variable is set: Bun's `fetch` would send the callback (and its token) through
 * that proxy, where the relay has always connected to the target itself.
 */
export function defaultTransport(
  env: Record<string, string | undefined> = process.env,
  bun: boolean = "Bun" in globalThis,
): "undici" | "fetch" {
  if (!bun) return "undici";
  return PROXY_VARIABLES.some((name) => (env[name] ?? "") !== "") ? "undici" : "fetch";
}

/** What AbortSignal.timeout aborts with: a DOMException named TimeoutError (describeFailure). */
function timeoutReason(): DOMException {
  return new DOMException("The operation was aborted due to timeout", "TimeoutError");
}

/**
 * Network failure or timeout. A timeout, or a connection lost once the request may have left, is
 * `unknown`: the receiver may have acted. A refused or unreachable connection is a plain failure.
 */
function describeFailure(error: unknown, sent: boolean): { code: ErrorCode; unknown: boolean; text: string } {
  const err = error as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
  // Node's fetch rejects with a TypeError whose cause is undici's error.
  const cause = err?.cause as { code?: unknown } | undefined;
  const errCode =
    typeof err?.code === "string" ? err.code : typeof cause?.code === "string" ? cause.code : undefined;
  const name = typeof err?.name === "string" ? err.name : "Error";
  const text = `${errCode ?? name}: ${typeof err?.message === "string" ? err.message : String(error)}`;
  const timedOut =
    name === "TimeoutError" ||
    errCode === "UND_ERR_HEADERS_TIMEOUT" ||
    errCode === "UND_ERR_BODY_TIMEOUT" ||
    (name === "AbortError" && (err.cause as { name?: unknown } | undefined)?.name === "TimeoutError");
  if (timedOut) return { code: "DELIVERY_TIMEOUT", unknown: true, text };
  if (errCode === "UND_ERR_CONNECT_TIMEOUT") return { code: "DELIVERY_TIMEOUT", unknown: false, text };
  const neverLeft =
    errCode === "ECONNREFUSED" ||
    errCode === "ConnectionRefused" || // Bun's fetch
    errCode === "ENOTFOUND" ||
    errCode === "EHOSTUNREACH" ||
    errCode === "EAI_AGAIN";
  return { code: "DELIVERY_NETWORK", unknown: sent || !neverLeft, text };
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= RESPONSE_EXCERPT_CHARS ? flat : flat.slice(0, RESPONSE_EXCERPT_CHARS);
}

/**
 * The fields of an `attempt` audit record for one result (no headers, no secrets). The URL is
 * audited without credentials or query: a webhook URL may carry a token there.
 */
export function attemptFields(
  result: AttemptResult,
  at: { attempt: number; url: string; kind: string },
): Record<string, unknown> {
  return {
    attempt: at.attempt,
    url: auditUrl(at.url),
    kind: at.kind,
    requestBytes: result.bytes,
    ...(result.status === undefined ? {} : { status: result.status }),
    durationMs: result.durationMs,
    result: result.result,
    ...(result.code === undefined ? {} : { code: result.code, hint: result.hint }),
    responseExcerpt: result.responseExcerpt,
  };
}

/** A URL fit for the audit: no query, no credentials. */
const auditUrl = rememberLast((url: string): string => {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "[unparseable url]";
  }
});
