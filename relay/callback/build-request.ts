import type { RelayConfig } from "../config/index.ts";
import { signingSecrets } from "../config/index.ts";
import { RelayError } from "../errors/index.ts";
import { buildReport, pickRouting, trimReport } from "./build-report.ts";
import { type Callback, fullSummaryLength } from "./callback.ts";
import { rememberLast } from "./remember-last.ts";
import { signWebhook, webhookSecretKey } from "./sign-webhook.ts";

/** One HTTP request for one attempt of one callback. Holds secrets: never audit it whole. */
export interface CallbackRequest {
  url: string;
  method: "POST";
  headers: Record<string, string>;
  body: string;
  /** true when the summary (or the file list, or another field) was cut to fit */
  truncated: boolean;
}

export interface BuildRequestOptions {
  /** Characters of the last assistant message quoted before any size cut (config `summaryMaxChars`). */
  summaryMaxChars: number;
  /** Epoch milliseconds, for `webhook-timestamp`. @default Date.now */
  now?: () => number;
}

type Target = RelayConfig["target"];

/** Changed files named in the report before any size cut. */
const DEFAULT_MAX_FILES = 50;

/** `<base>/<leaf>` keeping the query, with exactly one slash between. */
function endpoint(base: string, leaf: string): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${leaf}`;
  return url.toString();
}
const agentEndpoint = rememberLast((base: string) => endpoint(base, "agent"));
const wakeEndpoint = rememberLast((base: string) => endpoint(base, "wake"));

function secretsOf(target: Target): string[] {
  const secrets = signingSecrets(target);
  if (secrets.length === 0) {
    throw new RelayError(
      "CONFIG_INVALID",
      'target.kind "webhook" needs target.secret (a whsec_… signing secret)',
      {
        details: { key: "target.secret" },
      },
    );
  }
  // Fail on a malformed secret before any body work, whatever the attempt.
  for (const secret of secrets) webhookSecretKey(secret);
  return secrets;
}

/** The JSON body for these cut limits; deterministic, so every attempt sends the same bytes. */
function renderBody(
  callback: Callback,
  target: Target,
  limits: { summaryMaxChars: number; maxFiles: number },
): { body: string; truncated: boolean } {
  const trimmed = trimReport(callback.report, limits);
  const message = buildReport(callback, limits, trimmed);
  const { report, truncated } = trimmed;
  const { routing } = callback;
  const agentId = target.agentId === undefined ? {} : { agentId: target.agentId };
  let payload: unknown;
  switch (target.kind) {
    case "openclaw-agent":
      payload = {
        message,
        name: target.name,
        sessionKey: routing.callbackSession,
        sessionMode: target.sessionMode,
        wakeMode: target.wakeMode,
        deliver: target.deliver,
        idempotencyKey: callback.idempotencyKey,
        ...agentId,
      };
      break;
    case "openclaw-wake":
      // Wake only takes a sessionKey with mode "now"; routing lives in the text's block.
      payload = { text: message, mode: "now", sessionKey: routing.callbackSession, ...agentId };
      break;
    case "webhook": {
      // The whole length goes last, as it always did, whether or not the report holds it.
      const { summaryLength: _whole, ...reportFields } = report;
      payload = {
        type: `opencode.run.${routing.outcome}`,
        timestamp: new Date(callback.report.endedAt).toISOString(),
        data: {
          ...pickRouting(routing),
          idempotencyKey: callback.idempotencyKey,
          report: {
            ...reportFields,
            // The counts survive the cut, so a consumer knows how much it is missing.
            summaryLength: fullSummaryLength(callback.report),
            filesChangedCount: callback.report.filesChanged.length,
          },
          message,
          truncated,
        },
      };
      break;
    }
  }
  return { body: JSON.stringify(payload), truncated };
}

/** Largest n in [0, hi] with fits(n), assuming fits is (near) monotone; -1 when none. */
function largestFitting(hi: number, fits: (n: number) => boolean): number {
  if (!fits(0)) return -1;
  let lo = 0;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The body of a callback within `target.maxBodyBytes`: the summary shrinks first, then the file
 * list; routing fields are never dropped. Throws PAYLOAD_TOO_LARGE when even no summary and no
 * file names do not fit.
 */
function fitBody(
  callback: Callback,
  target: Target,
  summaryMaxChars: number,
): { body: string; truncated: boolean } {
  const max = target.maxBodyBytes;
  const size = (rendered: { body: string }) => Buffer.byteLength(rendered.body, "utf8");
  const files = Math.min(DEFAULT_MAX_FILES, callback.report.filesChanged.length);
  const first = renderBody(callback, target, { summaryMaxChars, maxFiles: files });
  if (size(first) <= max) return first;

  // Every quoted character costs at least one byte, so more than `max` of them can never fit.
  const summaryHi = Math.min(summaryMaxChars, callback.report.summary.length, max);
  const fitsSummary = (n: number) =>
    size(renderBody(callback, target, { summaryMaxChars: n, maxFiles: files })) <= max;
  const summaryChars = largestFitting(summaryHi, fitsSummary);
  if (summaryChars >= 0)
    return renderBody(callback, target, { summaryMaxChars: summaryChars, maxFiles: files });

  const fitsFiles = (n: number) =>
    size(renderBody(callback, target, { summaryMaxChars: 0, maxFiles: n })) <= max;
  const fileCount = largestFitting(files, fitsFiles);
  if (fileCount >= 0) return renderBody(callback, target, { summaryMaxChars: 0, maxFiles: fileCount });

  const smallest = size(renderBody(callback, target, { summaryMaxChars: 0, maxFiles: 0 }));
  throw new RelayError(
    "PAYLOAD_TOO_LARGE",
    `the smallest report for run ${callback.routing.runId} is ${smallest} bytes, over target.maxBodyBytes (${max})`,
    { details: { bytes: smallest, maxBodyBytes: max } },
  );
}

/**
 * The HTTP request for one attempt of `callback` toward `target`. Called at every attempt: the
 * body is byte-identical each time (it depends on the callback and configuration only); for
 * `webhook`, `webhook-timestamp` and the signatures are fresh. Throws RelayError CONFIG_INVALID
 * (webhook without a usable secret) or PAYLOAD_TOO_LARGE; neither is worth retrying.
 */
export function buildRequest(
  callback: Callback,
  target: Target,
  options: BuildRequestOptions,
): CallbackRequest {
  const secrets = target.kind === "webhook" ? secretsOf(target) : [];
  const { body, truncated } = fitBody(callback, target, options.summaryMaxChars);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    // Sent to /wake too: the gateway ignores it there, but a proxy or a log can still dedupe.
    "idempotency-key": callback.idempotencyKey,
  };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;

  let url = target.url;
  if (target.kind === "openclaw-agent") url = agentEndpoint(target.url);
  else if (target.kind === "openclaw-wake") url = wakeEndpoint(target.url);
  else {
    const timestamp = Math.floor((options.now ?? Date.now)() / 1000);
    headers["webhook-id"] = callback.idempotencyKey;
    headers["webhook-timestamp"] = String(timestamp);
    // One signature per secret, space-separated, so a receiver mid-rotation accepts either.
    headers["webhook-signature"] = secrets
      .map((secret) => signWebhook(secret, callback.idempotencyKey, timestamp, body))
      .join(" ");
  }
  return { url, method: "POST", headers, body, truncated };
}
