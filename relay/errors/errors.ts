/**
 * Every failure the relay reports carries one of these stable codes. Tests assert the code,
 * never the message text; the README lists them all (keep the two in step).
 *
 * `kind` separates what must never be retried (a bad title, a refused route, bad config)
 * from delivery failures, which are retried or final by HTTP semantics.
 */
export const ERROR_CODES = {
  // Configuration: nothing is sent while configuration is unusable.
  CONFIG_NOT_FOUND: {
    kind: "config",
    hint: "create callback-relay.jsonc in the OpenCode config dir (run `opencode-callback-relay install`) or set OPENCODE_CALLBACK_RELAY_CONFIG",
  },
  CONFIG_UNREADABLE: {
    kind: "config",
    hint: "the configuration file exists but cannot be read (permissions, or it is a directory)",
  },
  CONFIG_PARSE: {
    kind: "config",
    hint: "the file is not valid JSONC: fix the syntax at the reported offset",
  },
  CONFIG_INVALID: {
    kind: "config",
    hint: "a key has the wrong type or value: see the reported key and what it expects",
  },
  CONFIG_ENV_MISSING: {
    kind: "config",
    hint: "a {env:NAME} reference names an environment variable that is not set where the configuration was loaded (OpenCode's environment for the plugin, the shell's for the CLI)",
  },
  CONFIG_FILE_MISSING: {
    kind: "config",
    hint: "a {file:PATH} reference names a file that does not exist (relative paths start at the configuration file's folder)",
  },

  // Titles: a malformed tagged title is an integrity error, never a guess.
  TITLE_DUPLICATE_KEY: { kind: "integrity", hint: "a known tag appears twice in the title: keep one" },
  TITLE_CONTROL_CHARACTER: {
    kind: "integrity",
    hint: "the title holds a control character: percent-encode it or remove it",
  },
  TITLE_FORMAT_CHARACTER: {
    kind: "integrity",
    hint: "the title holds an invisible or format character (bidi control, zero-width character, BOM, soft hyphen, filler): it can display differently from how it parses; remove it, and build titles with buildTitle()",
  },
  TITLE_CONFUSABLE_KEY: {
    kind: "integrity",
    hint: "a word reads as a tag whose key imitates a known key (other case, fullwidth or look-alike letters, a look-alike =, a %-escaped key): spell known keys exactly, and percent-encode the = of a word that is not a tag (buildTitle does)",
  },
  TITLE_AMBIGUOUS_SPACE: {
    kind: "integrity",
    hint: "a tag is next to white space other than a plain space (no-break, ideographic, line separator…): a reader splitting on spaces would read another tag; separate tags with U+0020",
  },
  TITLE_TOO_LONG: { kind: "integrity", hint: "the title is longer than the parser accepts" },
  TITLE_VALUE_TOO_LONG: { kind: "integrity", hint: "a tag value is longer than the parser accepts" },
  TITLE_BAD_ENCODING: {
    kind: "integrity",
    hint: "a tag value has a malformed %-escape: build titles with buildTitle()",
  },
  TITLE_BAD_KEY: {
    kind: "integrity",
    hint: "buildTitle() was given an extra tag key that is not an identifier ([A-Za-z][A-Za-z0-9_]*), is a known key or differs from one only in case: pass known keys in tags",
  },

  // Caller-session integrity (fail closed): nothing is sent.
  INTEGRITY_MISSING_RUN_ID: {
    kind: "integrity",
    hint: "the title has no runId=… tag with a value: only titles with a runId take part, so whoever submitted this run is at fault",
  },
  INTEGRITY_MISSING_CALLBACK_SESSION: {
    kind: "integrity",
    hint: "the title has runId but no callbackSession=… tag",
  },
  INTEGRITY_MALFORMED_CALLBACK_SESSION: {
    kind: "integrity",
    hint: "callbackSession must look like agent:<agentId>:<name> (letters, digits, : _ - . only)",
  },
  INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED: {
    kind: "integrity",
    hint: "callbackSession does not start with any of callbackSessionPrefixes; mirror the gateway's hooks.allowedSessionKeyPrefixes",
  },
  INTEGRITY_MALFORMED_CALLBACK_SESSION_ID: {
    kind: "integrity",
    hint: "callbackSessionId must be a plain identifier (letters, digits, : _ - .)",
  },
  INTEGRITY_TAGS_CHANGED: {
    kind: "integrity",
    hint: "the routing tags of this run changed after it was first seen; start a new runId instead of editing the title",
  },
  INTEGRITY_REPO_ROOT_MISMATCH: {
    kind: "integrity",
    hint: "repoRoot names another project than the one this opencode serve runs in",
  },
  INTEGRITY_PROJECT_MISMATCH: {
    kind: "integrity",
    hint: "projectId names another project than the one this opencode serve runs in",
  },
  INTEGRITY_AGENT_MISMATCH: {
    kind: "integrity",
    hint: 'requested/resolved/actual agent differ and integrity.onAgentMismatch is "reject"',
  },

  // Payload: the request cannot be built from this callback and configuration.
  PAYLOAD_TOO_LARGE: {
    kind: "config",
    hint: "even the smallest report (no summary, no file list) exceeds target.maxBodyBytes: raise it (OpenClaw accepts up to 262144) or shorten the routing tags",
  },

  // Delivery.
  DELIVERY_NETWORK: {
    kind: "delivery",
    hint: "the receiver could not be reached: is the gateway running at target.url?",
  },
  DELIVERY_TIMEOUT: {
    kind: "delivery",
    hint: "no answer within delivery.timeoutMs; the receiver may or may not have acted (outcome unknown)",
  },
  DELIVERY_HTTP_STATUS: { kind: "delivery", hint: "the receiver answered with a non-2xx status" },
  DELIVERY_UNAUTHORIZED: {
    kind: "delivery",
    hint: "401: target.token does not match the gateway's hooks.token",
  },
  DELIVERY_SESSION_KEY_DISABLED: {
    kind: "delivery",
    hint: "400 sessionKey is disabled: set hooks.allowRequestSessionKey=true on the gateway",
  },
  DELIVERY_SESSION_KEY_PREFIX: {
    kind: "delivery",
    hint: "400: the gateway's hooks.allowedSessionKeyPrefixes does not admit this callbackSession",
  },
  DELIVERY_STALE_TIMESTAMP: {
    kind: "delivery",
    hint: "the receiver refused the webhook-timestamp as too old or too new: this machine's clock and the receiver's differ by more than its tolerance (5 min in Standard Webhooks); sync both clocks (NTP), then `opencode-callback-relay audit redeliver <runId>`",
  },
  DELIVERY_PAYLOAD_TOO_LARGE: { kind: "delivery", hint: "413: the body exceeded the receiver's limit" },
  DELIVERY_RETRIES_EXHAUSTED: {
    kind: "delivery",
    hint: "every attempt failed; see the attempt records, then `opencode-callback-relay audit redeliver <runId>`",
  },
  DELIVERY_EXPIRED: {
    kind: "delivery",
    hint: "the callback outlived delivery.maxAgeMs before a receiver accepted it",
  },

  // Redelivery (`audit redeliver <runId>`): an operator's resend of a callback that failed for good.
  REDELIVERY_NOT_FOUND: {
    kind: "delivery",
    hint: "no failed, pending or delivered callback for this runId (and --session) in stateDir: it was never accepted, or its state was pruned; see `audit show <runId>`",
  },
  REDELIVERY_AMBIGUOUS: {
    kind: "delivery",
    hint: "several callbacks (several OpenCode sessions) carry this runId: pick one with `audit redeliver <runId> --session <OpenCode session id>`",
  },
  REDELIVERY_ALREADY_DELIVERED: {
    kind: "delivery",
    hint: "the audit log shows this callback delivered, so it is not sent again; to resend it anyway with the same idempotency key (the receiver lost it), use `audit redeliver <runId> --force`",
  },
  REDELIVERY_AUDIT_UNVERIFIED: {
    kind: "delivery",
    hint: "the audit log does not verify, so its word on whether this callback was delivered cannot be trusted; nothing was sent or removed: run `opencode-callback-relay audit verify`, keep a copy of the log, then resend with `audit redeliver <runId> --force` if you accept a possible duplicate",
  },
  REDELIVERY_PENDING: {
    kind: "delivery",
    hint: "this callback is still pending: the relay retries it at its due time; after fixing the receiver, push it now with `audit redeliver <runId> --now`",
  },
  REDELIVERY_LEASED: {
    kind: "delivery",
    hint: "another live process holds this callback's lease (named in the record): a relay that did not take the `--now` nudge (an older plugin version, or busy), or another `audit redeliver` in progress; a callback is never sent by two processes at once: wait for that attempt, or stop that process and run `audit redeliver <runId> --now` again",
  },

  // `dispatch`: handing a run to an opencode serve from the CLI.
  DISPATCH_SERVER: {
    kind: "delivery",
    hint: "the opencode serve at --server could not be reached or refused the request: is it running, and is --server its URL (opencode serve prints it)?",
  },
  DISPATCH_NO_RELAY: {
    kind: "config",
    hint: "the server's configuration for --dir registers no opencode-callback-relay plugin, so nobody would call back: run `opencode-callback-relay install` for the config dir that serve reads, and restart it (or pass --no-relay-check if the plugin is registered under another name)",
  },

  // Local state: degrade to an audited error, never crash the host.
  STATE_UNWRITABLE: {
    kind: "state",
    hint: "stateDir cannot be written (permissions or a full disk); callbacks cannot be made durable",
  },
  STATE_LEASE_HELD: {
    kind: "state",
    hint: "another process holds this callback's outbox lease and it cannot be told from here whether that process still works on it (another host, a lease naming a bare pid, or a live process that stopped renewing); a holder that renews is left alone; one of unknown liveness is taken over 2 min after its last renewal",
  },
  STATE_DELIVERED_UNMARKED: {
    kind: "state",
    hint: "the callback was delivered (2xx) but stateDir could not record that, not even with an empty file (a full, read-only or inode-exhausted disk): after a restart this run may be sent again with the same idempotency key; free the disk",
  },
  AUDIT_UNWRITABLE: {
    kind: "state",
    hint: "the audit log cannot be written; records go to the fallback path and stderr",
  },
  STATE_SYMLINK_REFUSED: {
    kind: "state",
    hint: "a symbolic link stands where the relay keeps a file (audit log, rotated file, head, key, or an entry in stateDir); it is never followed: remove the link, and find out who planted it",
  },
  STATE_FOLDER_INSECURE: {
    kind: "state",
    hint: "the state or audit folder is writable by group or others and is not owned by this user, so it cannot be tightened: chmod 700 it as its owner, or point stateDir/audit.path at a folder of your own",
  },
  STATE_FOLDER_TIGHTENED: {
    kind: "state",
    hint: "the folder was writable by group or others; being ours, it was set to 0700. Check who could have written in it meanwhile",
  },

  // The audit log's verification (`audit verify`): the log was changed after it was written.
  AUDIT_CHAIN_BROKEN: {
    kind: "state",
    hint: "a record was edited, removed, inserted or reordered, or the log was cut short: keep a copy of the files as they are for review",
  },
  AUDIT_LINE_NOT_CANONICAL: {
    kind: "state",
    hint: "a line is not the exact serialization the writer produces (a duplicated key, added white space, re-escaped text): it was edited by hand or by another tool",
  },
  AUDIT_LINE_TOO_LONG: {
    kind: "state",
    hint: "a line is longer than any record the writer produces (1 MiB): it was not written by the relay",
  },
  AUDIT_LINE_TOO_DEEP: {
    kind: "state",
    hint: "a line nests deeper than any record the writer produces (64 levels): it was not written by the relay",
  },
  AUDIT_MAC_INVALID: {
    kind: "state",
    hint: "a record or the head lacks the MAC the audit key gives, or it does not match: forged by someone without the key, or verified with the wrong key (--key)",
  },
  AUDIT_ANCHOR_MISMATCH: {
    kind: "state",
    hint: "the log does not hold the record an anchor (SEQ:HASH from a callback the receiver got) names: the log was rewritten after that callback",
  },
  AUDIT_KEY_UNREADABLE: {
    kind: "state",
    hint: "the audit key file (audit.key in stateDir) is missing, unreadable or not 64 hex digits: pass --key PATH, or verify without MACs",
  },
  SETTLE_FETCH_FAILED: {
    kind: "state",
    hint: "the session's messages could not be read through the OpenCode client",
  },
  JOURNAL_ENTRY_UNREADABLE: {
    kind: "state",
    hint: "a run journal file is torn or not a journal entry (a write cut off by a crash, or a foreign file); it was renamed to *.unreadable and skipped: look at it, then delete it",
  },
  INTERNAL: {
    kind: "internal",
    hint: "a bug in opencode-callback-relay: please report it with the audit record",
  },
} as const satisfies Record<string, { kind: ErrorKind; hint: string }>;

export type ErrorKind = "config" | "integrity" | "delivery" | "state" | "internal";
export type ErrorCode = keyof typeof ERROR_CODES;

/** The one error type the relay throws or records. `code` is stable; `message` is for people. */
export class RelayError extends Error {
  override readonly name = "RelayError";
  readonly code: ErrorCode;
  /** What a person should change; defaults to the code's documented hint. */
  readonly hint: string;
  /** Extra structured facts (a config key, an HTTP status) that go into the audit record. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint ?? ERROR_CODES[code].hint;
    this.details = options.details ?? {};
  }

  get kind(): ErrorKind {
    return ERROR_CODES[this.code].kind;
  }
}

/** Narrow an unknown throw to a RelayError, wrapping anything else as INTERNAL. */
export function toRelayError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RelayError("INTERNAL", message, { cause: error });
}
