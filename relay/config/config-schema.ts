import { en } from "zod/locales";
import * as z from "zod/mini";

// zod/mini tree-shakes (the plugin bundle carries ~25 KB of zod instead of ~450 KB); it ships
// without messages, so load the English ones. This configures only the bundle's own copy of zod.
z.config(en());

/**
 * The configuration schema: parsed once where configuration enters (load-config.ts), trusted
 * inside. Every option has its default and unit beside it; the README's configuration reference
 * mirrors this file.
 */

const TARGET_KINDS = ["openclaw-agent", "openclaw-wake", "webhook"] as const;
const nonEmpty = z.string().check(z.minLength(1));
const positiveInt = z.int().check(z.positive());

const targetSchema = z.strictObject({
  /**
   * Where callbacks go. `openclaw-agent` POSTs `<url>/agent`, `openclaw-wake` POSTs `<url>/wake`,
   * `webhook` POSTs `<url>` itself with a Standard Webhooks signature.
   * @default "openclaw-agent"
   */
  kind: z._default(z.enum(TARGET_KINDS), "openclaw-agent"),
  /** For the OpenClaw kinds the hooks base (`http://127.0.0.1:18789/hooks`); for `webhook` the full URL. */
  url: z.url({
    protocol: /^https?$/,
    error: "expected an http(s) URL such as http://127.0.0.1:18789/hooks",
  }),
  /** Bearer token for the OpenClaw kinds (the gateway's `hooks.token`); use `{env:NAME}`. */
  token: z.optional(nonEmpty),
  /**
   * Standard Webhooks signing secrets (`whsec_…`) for `webhook`; the first signs, all are
   * sent as signatures so a receiver can rotate. Use `{env:NAME}`.
   */
  secret: z.optional(z.union([nonEmpty, z.array(nonEmpty).check(z.minLength(1))])),
  /** OpenClaw `/agent` session mode; `persistent` runs the turn inside the caller's own session. @default "persistent" */
  sessionMode: z._default(z.enum(["persistent", "isolated"]), "persistent"),
  /** OpenClaw `/agent` wake mode. @default "now" */
  wakeMode: z._default(z.enum(["now", "next-heartbeat"]), "now"),
  /** OpenClaw `/agent` `deliver`: whether the gateway forwards the reply to a chat channel. @default false */
  deliver: z._default(z.boolean(), false),
  /** OpenClaw `/agent` `name`, shown as `Hook <name>`. @default "OpenCode" */
  name: z._default(z.string().check(z.minLength(1), z.maxLength(100)), "OpenCode"),
  /** OpenClaw `/agent` `agentId`; omitted when unset. */
  agentId: z.optional(nonEmpty),
  /** Largest request body in bytes; OpenClaw answers 413 past 262,144. @default 262144 */
  maxBodyBytes: z._default(z.int().check(z.minimum(4096), z.maximum(16 * 1024 * 1024)), 262_144),
});

/**
 * The default per-attempt timeout per target kind, ms. OpenClaw holds a request for a busy caller
 * session up to 15 s before answering 503 (no Retry-After): an attempt must outlast that wait, or
 * every busy session is misread as a timeout of unknown outcome instead of a plain, retried 503.
 */
export const DEFAULT_TIMEOUT_MS: Readonly<Record<TargetKind, number>> = {
  "openclaw-agent": 20_000, // 20 s: the gateway's 15 s admission wait, plus 5 s to answer
  "openclaw-wake": 20_000, // 20 s: the same gateway and wait
  webhook: 10_000, // 10 s
};

const deliverySchema = z.strictObject({
  /**
   * Per-attempt timeout, milliseconds (connect, send, status line).
   * @default 20000 (20 s) for the OpenClaw kinds, 10000 (10 s) for `webhook` (DEFAULT_TIMEOUT_MS)
   */
  timeoutMs: z.optional(positiveInt),
  /** Attempts before giving up (the first included). @default 12 */
  maxAttempts: z._default(z.int().check(z.minimum(1), z.maximum(100)), 12),
  /** First backoff delay, milliseconds. @default 1000 (1 s) */
  initialDelayMs: z._default(positiveInt, 1_000),
  /** Largest backoff delay (and largest honoured Retry-After), milliseconds. @default 300000 (5 min) */
  maxDelayMs: z._default(positiveInt, 300_000),
  /** Backoff growth factor. @default 2 */
  factor: z._default(z.number().check(z.minimum(1), z.maximum(10)), 2),
  /** Give up once a callback is this old, milliseconds. @default 86400000 (24 h) */
  maxAgeMs: z._default(positiveInt, 86_400_000),
  /** Requests in flight toward the receiver at once. @default 8 */
  concurrency: z._default(z.int().check(z.minimum(1), z.maximum(256)), 8),
});

const auditSchema = z.strictObject({
  /** The JSONL audit log. @default "$XDG_DATA_HOME/opencode-callback-relay/audit.jsonl" (or ~/.local/share/…) */
  path: z.optional(nonEmpty),
  /** Rotate when the active file passes this many bytes. @default 10485760 (10 MiB) */
  maxBytes: z._default(z.int().check(z.minimum(1024)), 10 * 1024 * 1024),
});

const integritySchema = z.strictObject({
  /**
   * When requested ≠ resolved, or the agent that ran ≠ resolved: `report` sends the callback with
   * `fallbackUsed: true`; `reject` refuses it with INTEGRITY_AGENT_MISMATCH.
   * @default "report"
   */
  onAgentMismatch: z._default(z.enum(["report", "reject"]), "report"),
});

const configObject = z.strictObject({
  target: targetSchema,
  /**
   * callbackSession must start with one of these (case-insensitive), like the gateway's
   * `hooks.allowedSessionKeyPrefixes`. @default ["agent:main:"]
   */
  callbackSessionPrefixes: z._default(z.array(nonEmpty).check(z.minLength(1)), ["agent:main:"]),
  /** Outbox and dedupe state. @default "$XDG_STATE_HOME/opencode-callback-relay" (or ~/.local/state/…) */
  stateDir: z.optional(nonEmpty),
  audit: z.prefault(auditSchema, {}),
  integrity: z.prefault(integritySchema, {}),
  delivery: z.prefault(deliverySchema, {}),
  /** Characters of the last assistant message quoted in the report. @default 4000 */
  summaryMaxChars: z._default(z.int().check(z.minimum(0), z.maximum(200_000)), 4_000),
});

/** The configuration schema; `delivery.timeoutMs` defaults by `target.kind` (DEFAULT_TIMEOUT_MS). */
export const configSchema = z.pipe(
  configObject,
  z.transform((config) => ({
    ...config,
    delivery: {
      ...config.delivery,
      timeoutMs: config.delivery.timeoutMs ?? DEFAULT_TIMEOUT_MS[config.target.kind],
    },
  })),
);

/** Configuration as written by a user (defaults not yet applied). */
export type RelayConfigInput = z.input<typeof configSchema>;
/** Configuration after validation, with every default applied. */
export type RelayConfig = z.output<typeof configSchema>;
export type TargetKind = (typeof TARGET_KINDS)[number];
