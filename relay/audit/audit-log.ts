import { resolve } from "node:path";
import { readHead } from "./audit-files.ts";
import { AUDIT_SCHEMA_VERSION, type AuditInput } from "./audit-record.ts";
import { type AuditWriter, auditWriterFor, type QueuedRecord } from "./audit-writer.ts";
import { redactInto } from "./redact.ts";

/** Options of `openAuditLog`. */
export interface AuditLogOptions {
  /** The active JSONL file; rotated files sit beside it as `<path>.1`, `<path>.2`, … */
  path: string;
  /** Rotate past this many bytes. @default 10485760 (10 MiB) */
  maxBytes?: number;
  /** Literal secret values (tokens, signing keys, {env:} values) never to be written. */
  secrets?: string[];
  /** Where records go when `path` cannot be written (and stderr). */
  fallbackPath?: string;
  /** Clock for `ts`. @default () => new Date() */
  now?: () => Date;
  /**
   * The log's HMAC key file (`<stateDir>/audit.key`, created 0600 on first use): every record and
   * the head then carry a MAC that someone who can write the log but not read this file cannot
   * produce (audit-key.ts). The first key path given for a log in a process wins.
   * @default none: records are hash-chained only
   */
  keyPath?: string;
}

/** An append-only, hash-chained, size-rotated JSONL audit log. */
export interface AuditLog {
  readonly path: string;
  /** Queue one record; never rejects, never throws synchronously. */
  append(input: AuditInput): Promise<void>;
  /** Resolves once everything appended so far is on disk. */
  flush(): Promise<void>;
  /**
   * The log's head as `SEQ:HASH`: the last record this process wrote, else the head sidecar on
   * disk; undefined when there is none. Does not wait for queued records. Never rejects.
   */
  anchor?(): Promise<string | undefined>;
  /**
   * anchor() without reading the disk: the last record this process wrote, as `SEQ:HASH`;
   * undefined when it wrote none yet (then ask anchor()). Never throws.
   */
  anchorNow?(): string | undefined;
}

const DEFAULT_MAX_BYTES = 10 * 1024 * 1024; // 10 MiB
// Set by the log, never taken from the caller: a record cannot forge its place in the chain.
const RESERVED_KEYS = ["v", "ts", "seq", "prev", "hash", "mac"];
/** What the log sets, and `phase`, which leads the body. */
const LEAD_KEYS: ReadonlySet<string> = new Set([...RESERVED_KEYS, "phase"]);

/** The last time formatted: records appended in the same millisecond share its ISO string. */
let lastTime = { ms: Number.NaN, iso: "" };

function isoTime(date: Date): string {
  const ms = date.getTime();
  if (ms !== lastTime.ms) lastTime = { ms, iso: date.toISOString() };
  return lastTime.iso;
}

/**
 * Open the audit log at `options.path`. Synchronous and lazy: nothing is created until the
 * first append. Every AuditLog for one path in this process shares one queue (OpenCode runs a
 * plugin instance per directory), drained in batches under one cross-process lock per batch,
 * so other processes appending to the same file keep one unbroken chain.
 *
 * A record is redacted (relay/redact.ts) and time-stamped when appended; its seq and chain are
 * assigned when its batch is written. Failures never reach the caller: records go to
 * `fallbackPath` (or stderr) with an AUDIT_UNWRITABLE notice on stderr once per kind of failure.
 */
export function openAuditLog(options: AuditLogOptions): AuditLog {
  const path = resolve(options.path);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const secrets = options.secrets ?? [];
  const fallbackPath = options.fallbackPath === undefined ? undefined : resolve(options.fallbackPath);
  const now = options.now ?? (() => new Date());
  const keyPath = options.keyPath === undefined ? undefined : resolve(options.keyPath);
  let writer: AuditWriter | undefined;

  return {
    path,
    append(input: AuditInput): Promise<void> {
      try {
        if (writer === undefined) {
          writer = auditWriterFor(path);
          if (keyPath !== undefined) writer.useKey(keyPath);
        }
        let ts: string;
        try {
          ts = isoTime(now());
        } catch {
          ts = new Date().toISOString();
        }
        // { v, ts, phase, ...the input redacted, without RESERVED }, built in one pass, laid out
        // as the line begins (hash-record.ts sealLine serializes it as it is).
        const body: Record<string, unknown> = { v: AUDIT_SCHEMA_VERSION, ts, phase: String(input.phase) };
        redactInto(body, input, secrets, LEAD_KEYS);
        // enqueue never rejects: no catch of its own (a promise more per record).
        return writer.enqueue({ body: body as QueuedRecord["body"], maxBytes, fallbackPath });
      } catch (error) {
        // Only a bug gets here; still never throw into the host.
        process.stderr.write(`opencode-callback-relay: INTERNAL: audit append failed: ${String(error)}\n`);
        return Promise.resolve();
      }
    },
    flush(): Promise<void> {
      return writer === undefined ? Promise.resolve() : writer.idle().catch(() => {});
    },
    async anchor(): Promise<string | undefined> {
      const head = auditWriterFor(path).lastWritten() ?? (await readHead(path).catch(() => null));
      return head === null || head === "malformed" ? undefined : `${head.seq}:${head.hash}`;
    },
    anchorNow(): string | undefined {
      const head = auditWriterFor(path).lastWritten();
      return head === undefined ? undefined : `${head.seq}:${head.hash}`;
    },
  };
}
