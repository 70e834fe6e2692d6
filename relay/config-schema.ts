import { z } from "zod";

/**
 * The configuration schema: parsed once where configuration enters (load-config.ts), trusted
 * inside. Every option has its default and unit beside it; the README's configuration reference
 * mirrors this file.
 */

const targetSchema = z
  .object({
    /**
     * Where callbacks go. `openclaw-agent` POSTs `<url>/agent`, `openclaw-wake` POSTs `<url>/wake`,
     * `webhook` POSTs `<url>` itself with a Standard Webhooks signature.
     * @default "openclaw-agent"
     */
    kind: z.enum(["openclaw-agent", "openclaw-wake", "webhook"]).default("openclaw-agent"),
    /** For the OpenClaw kinds the hooks base (`http://127.0.0.1:18789/hooks`); for `webhook` the full URL. */
    url: z.url({
      protocol: /^https?$/,
      error: "expected an http(s) URL such as http://127.0.0.1:18789/hooks",
    }),
    /** Bearer token for the OpenClaw kinds (the gateway's `hooks.token`); use `{env:NAME}`. */
    token: z.string().min(1).optional(),
    /**
     * Standard Webhooks signing secrets (`whsec_…`) for `webhook`; the first signs, all are
     * sent as signatures so a receiver can rotate. Use `{env:NAME}`.
     */
    secret: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** OpenClaw `/agent` session mode; `persistent` runs the turn inside the caller's own session. @default "persistent" */
    sessionMode: z.enum(["persistent", "isolated"]).default("persistent"),
    /** OpenClaw `/agent` wake mode. @default "now" */
    wakeMode: z.enum(["now", "next-heartbeat"]).default("now"),
    /** OpenClaw `/agent` `deliver`: whether the gateway forwards the reply to a chat channel. @default false */
    deliver: z.boolean().default(false),
    /** OpenClaw `/agent` `name`, shown as `Hook <name>`. @default "OpenCode" */
    name: z.string().min(1).max(100).default("OpenCode"),
    /** OpenClaw `/agent` `agentId`; omitted when unset. */
    agentId: z.string().min(1).optional(),
    /** Largest request body in bytes; OpenClaw answers 413 past 262,144. @default 262144 */
    maxBodyBytes: z
      .number()
      .int()
      .min(4096)
      .max(16 * 1024 * 1024)
      .default(262_144),
  })
  .strict();

const deliverySchema = z
  .object({
    /** Per-attempt timeout, milliseconds. @default 10000 (10 s) */
    timeoutMs: z.number().int().positive().default(10_000),
    /** Attempts before giving up (the first included). @default 12 */
    maxAttempts: z.number().int().min(1).max(100).default(12),
    /** First backoff delay, milliseconds. @default 1000 (1 s) */
    initialDelayMs: z.number().int().positive().default(1_000),
    /** Largest backoff delay (and largest honoured Retry-After), milliseconds. @default 300000 (5 min) */
    maxDelayMs: z.number().int().positive().default(300_000),
    /** Backoff growth factor. @default 2 */
    factor: z.number().min(1).max(10).default(2),
    /** Give up once a callback is this old, milliseconds. @default 86400000 (24 h) */
    maxAgeMs: z.number().int().positive().default(86_400_000),
    /** Requests in flight toward the receiver at once. @default 8 */
    concurrency: z.number().int().min(1).max(256).default(8),
  })
  .strict();

const auditSchema = z
  .object({
    /** The JSONL audit log. @default "$XDG_DATA_HOME/opencode-callback-relay/audit.jsonl" (or ~/.local/share/…) */
    path: z.string().min(1).optional(),
    /** Rotate when the active file passes this many bytes. @default 10485760 (10 MiB) */
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .default(10 * 1024 * 1024),
  })
  .strict();

const integritySchema = z
  .object({
    /**
     * When requested ≠ resolved, or the agent that ran ≠ resolved: `report` sends the callback with
     * `fallbackUsed: true`; `reject` refuses it with INTEGRITY_AGENT_MISMATCH.
     * @default "report"
     */
    onAgentMismatch: z.enum(["report", "reject"]).default("report"),
  })
  .strict();

export const configSchema = z
  .object({
    target: targetSchema,
    /**
     * callbackSession must start with one of these (case-insensitive), like the gateway's
     * `hooks.allowedSessionKeyPrefixes`. @default ["agent:main:"]
     */
    callbackSessionPrefixes: z.array(z.string().min(1)).min(1).default(["agent:main:"]),
    /** Outbox and dedupe state. @default "$XDG_STATE_HOME/opencode-callback-relay" (or ~/.local/state/…) */
    stateDir: z.string().min(1).optional(),
    audit: auditSchema.prefault({}),
    integrity: integritySchema.prefault({}),
    delivery: deliverySchema.prefault({}),
    /** Characters of the last assistant message quoted in the report. @default 4000 */
    summaryMaxChars: z.number().int().min(0).max(200_000).default(4_000),
  })
  .strict();

/** Configuration as written by a user (defaults not yet applied). */
export type RelayConfigInput = z.input<typeof configSchema>;
/** Configuration after validation, with every default applied. */
export type RelayConfig = z.output<typeof configSchema>;
export type TargetKind = RelayConfig["target"]["kind"];
