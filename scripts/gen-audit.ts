import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { AuditInput } from "../relay/index.ts";
import { openAuditLog } from "../relay/index.ts";
import { seededRandom } from "./dev/seeded-random.ts";

/**
 * Writes a realistic audit log through the real writer (chain, rotation, head), for the review
 * CLI's tests and its 1,000,000-record timing. Runs interleave as they do in a busy relay: most
 * are delivered at once, some retry a 503, some fail (401, retries exhausted after timeouts),
 * some are refused by integrity, deduped, left pending or skipped; a few config errors.
 *
 *   npx esbuild scripts/gen-audit.ts --bundle --platform=node --format=esm --outfile=/tmp/gen.mjs \
 *     && node /tmp/gen.mjs --file /tmp/big/audit.jsonl --records 1000000
 */
export interface GenerateAuditOptions {
  path: string;
  /** Records to write (the last run may be cut short). */
  records: number;
  /** PRNG seed: the same seed writes the same runs. @default 1 */
  seed?: number;
  /** Rotation size. @default 10485760 (10 MiB) */
  maxBytes?: number;
  /** Time of the first record. @default 2026-01-01T00:00:00Z */
  start?: Date;
}

const LANES = 8; // runs in flight at once, so their records interleave

/** Write the log; resolves with what was written once it is all on disk. */
export async function generateAuditLog(
  options: GenerateAuditOptions,
): Promise<{ records: number; runs: number }> {
  const random = seededRandom(options.seed ?? 1);
  let clock = (options.start ?? new Date("2026-01-01T00:00:00Z")).getTime();
  const log = openAuditLog({
    path: options.path,
    maxBytes: options.maxBytes ?? 10 * 1024 * 1024,
    now: () => new Date(clock),
  });
  const lanes: AuditInput[][] = [];
  let runs = 0;
  let written = 0;
  while (written < options.records) {
    while (lanes.length < LANES) {
      runs += 1;
      lanes.push(scriptRun(runs, random));
    }
    const lane = Math.floor(random() * lanes.length);
    const record = lanes[lane]!.shift();
    if (lanes[lane]!.length === 0) lanes.splice(lane, 1);
    if (record === undefined) continue;
    clock += Math.floor(random() * 4_000);
    void log.append(record);
    written += 1;
    if (written % 10_000 === 0) await log.flush(); // bound the queue's memory
  }
  await log.flush();
  return { records: written, runs };
}

/** The records of one run, in order. */
function scriptRun(n: number, random: () => number): AuditInput[] {
  const sessionId = `ses_${(n * 2654435761).toString(36).padStart(8, "0")}`;
  const runId = `run-${n}`;
  const roll = random();
  if (roll < 0.01) {
    return [{ phase: "config_error", code: "CONFIG_INVALID", reason: "target.url: expected an http(s) URL" }];
  }
  const ids = {
    sessionId,
    runId,
    taskId: `T-${1 + (n % 500)}`,
    dedupeKey: `${sessionId}|${runId}`,
    idempotencyKey: `ocr-${n.toString(16).padStart(12, "0")}`,
    callbackSession: random() < 0.8 ? "agent:main:main" : `agent:main:worker-${n % 7}`,
  };
  if (roll < 0.04) {
    return [
      {
        phase: "integrity_error",
        sessionId,
        runId,
        outcome: "completed",
        code: "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED",
        reason: "callbackSession agent:other:x does not start with an allowed prefix",
        tags: { runId, taskId: ids.taskId, callbackSession: "agent:other:x" },
      },
    ];
  }
  if (roll < 0.05) return [{ phase: "skipped", ...ids, reason: "settled before the plugin started" }];
  const o = random();
  const outcome = o < 0.85 ? "completed" : o < 0.93 ? "failed" : o < 0.98 ? "aborted" : "interrupted";
  const accepted: AuditInput = { phase: "accepted", ...ids, outcome, fallbackUsed: false, durable: true };
  const url = "http://127.0.0.1:18789/hooks/agent";
  const attempt = (k: number, status: number | null, code?: AuditInput["code"]): AuditInput => ({
    phase: "attempt",
    ...ids,
    attempt: k,
    url,
    kind: "openclaw-agent",
    requestBytes: 1500 + Math.floor(random() * 3000),
    ...(status === null ? {} : { status }),
    durationMs: 20 + Math.floor(random() * 400),
    result: status !== null && status < 300 ? "delivered" : status === null ? "unknown" : "failed",
    ...(code === undefined ? {} : { code }),
    responseExcerpt: status === 200 ? '{"ok":true}' : status === null ? "" : '{"error":"busy"}',
  });
  const delivered = (k: number): AuditInput => ({ phase: "delivered", ...ids, attempts: k, status: 200 });
  const retry = (k: number, code: NonNullable<AuditInput["code"]>): AuditInput => ({
    phase: "retry_scheduled",
    ...ids,
    attempt: k,
    delayMs: 1000 * 2 ** k,
    code,
  });
  const path = random();
  if (path < 0.82) {
    const run = [accepted, attempt(1, 200), delivered(1)];
    return random() < 0.03 ? [...run, { phase: "deduped", ...ids }] : run;
  }
  if (path < 0.92) {
    return [
      accepted,
      attempt(1, 503, "DELIVERY_HTTP_STATUS"),
      retry(1, "DELIVERY_HTTP_STATUS"),
      attempt(2, 200),
      delivered(2),
    ];
  }
  if (path < 0.95) {
    return [
      accepted,
      attempt(1, 401, "DELIVERY_UNAUTHORIZED"),
      { phase: "failed", ...ids, code: "DELIVERY_UNAUTHORIZED", attempts: 1, status: 401 },
    ];
  }
  if (path < 0.98) {
    return [
      accepted,
      attempt(1, null, "DELIVERY_TIMEOUT"),
      retry(1, "DELIVERY_TIMEOUT"),
      attempt(2, null, "DELIVERY_TIMEOUT"),
      retry(2, "DELIVERY_TIMEOUT"),
      attempt(3, null, "DELIVERY_TIMEOUT"),
      {
        phase: "failed",
        ...ids,
        code: "DELIVERY_RETRIES_EXHAUSTED",
        attempts: 3,
        lastCode: "DELIVERY_TIMEOUT",
        result: "unknown",
      },
    ];
  }
  return [accepted, attempt(1, 503, "DELIVERY_HTTP_STATUS"), retry(1, "DELIVERY_HTTP_STATUS")];
}

function isProcessEntry(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isProcessEntry()) {
  const { values } = parseArgs({
    options: {
      file: { type: "string" },
      records: { type: "string", default: "1000000" },
      seed: { type: "string", default: "1" },
      "max-bytes": { type: "string" },
    },
  });
  if (values.file === undefined) {
    process.stderr.write("usage: gen-audit --file PATH [--records N] [--seed N] [--max-bytes N]\n");
    process.exitCode = 2;
  } else {
    const started = performance.now();
    const result = await generateAuditLog({
      path: values.file,
      records: Number(values.records),
      seed: Number(values.seed),
      ...(values["max-bytes"] === undefined ? {} : { maxBytes: Number(values["max-bytes"]) }),
    });
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `wrote ${result.records} records (${result.runs} runs) to ${values.file} in ${seconds.toFixed(1)} s\n`,
    );
  }
}
