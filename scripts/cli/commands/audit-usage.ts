/** `audit --help`, and each subcommand's own help (`audit show --help`, `help audit show`). */

const WHERE = `where the log is:
  --file PATH        the audit log (rotated files PATH.1, PATH.2 … are read with it)
  --config-dir DIR   an OpenCode config dir whose callback-relay.jsonc names audit.path
                     (default: the usual config dir, then the default audit path)
`;

export const AUDIT_USAGE = `usage: opencode-callback-relay audit [subcommand] [options]

  (none)             one row per run, newest first: time (UTC), run, task, OpenCode session,
                     callback session, outcome, delivery state, attempts, latency, last code
  show <id>          every record of a run (id: runId, OpenCode session id or sessionId|runId)
  stats              runs by outcome and state, delivery latency p50/p95/max, top failure codes
  verify             check the hash chain; exit 1 at the first edited/removed/inserted/reordered record
                     (with the audit key, MACs too; see audit verify --help for --key and --anchor)
  redeliver <runId>  resend a failed or unknown callback with the same idempotency key (needs the
                     configuration: --config-dir or the usual config dir, not --file); only when
                     the audit log verifies. --session ID, --now (pending), --force (delivered)

${WHERE}listing (no subcommand):
  --run ID           only this runId (or sessionId|runId)
  --session ID       only runs of this OpenCode session or callback session
  --state STATE      delivered, pending, failed, refused (integrity), deduped, skipped, unknown
  --since WHEN       runs active since an ISO date/time or a relative age: 30m, 2h, 7d
  --limit N          at most N rows (default 50 for the table, all with --json; 0 = all)
  --follow, -f       print records as they land, until Ctrl-C (--run/--session filter them)
  --json             JSON lines (one per run, or one object for stats/verify/show) for machines

The table fits the terminal's width (80 columns when not a terminal); the callback session and
the code are never cut: the other columns shrink first.

exit: 0 ok, 1 problem found or nothing matched, 2 usage error
  opencode-callback-relay audit <subcommand> --help   that subcommand's options
`;

export const AUDIT_SUBCOMMAND_USAGE: Readonly<Record<string, string>> = {
  show: `usage: opencode-callback-relay audit show <id> [--file PATH | --config-dir DIR] [--json]

Every record of the run(s) <id> names — a runId, an OpenCode session id, sessionId|runId or an
idempotency key — with time, phase, code, reason, hint, request and response.
  --json             the records themselves, one JSON line each

${WHERE}
exit: 0 found, 1 no record matches, 2 usage error
`,
  stats: `usage: opencode-callback-relay audit stats [--file PATH | --config-dir DIR] [--json]

Runs by outcome and delivery state, delivery latency p50/p95/max, the most frequent failure codes.
  --json             one JSON object

${WHERE}
exit: 0 ok, 1 no log, 2 usage error
`,
  verify: `usage: opencode-callback-relay audit verify [--file PATH | --config-dir DIR] [--key PATH]
                                      [--anchor SEQ:HASH]… [--json]

Recompute the hash chain across rotated files and the .head sidecar; report the first record that
was edited, removed, inserted or reordered.
  --key PATH         the audit key (default: audit.key in the configuration's stateDir, if there):
                     checks every record's MAC and the head's, so a resealed log is caught too
  --anchor SEQ:HASH  a record known from outside the log (the auditAnchor of a callback the receiver
                     got); repeat for several; each must be in the log with that hash
  --json             one JSON object

${WHERE}
exit: 0 intact, 1 a problem found (or no log), 2 usage error
`,
  redeliver: `usage: opencode-callback-relay audit redeliver <runId> [--session ID] [--now | --force]
                                         [--config-dir DIR]

Resend a callback that failed for good (or whose outcome is unknown), rebuilt from the outbox with
the current configuration and the SAME idempotency key; audited as redelivery. Only when the audit
log verifies (with the audit key when there is one): a log that does not is never trusted to say
a callback was delivered, and nothing is removed on its word.
  --session ID       the OpenCode session meant, when the runId ran in several
  --now              a callback still pending (retrying): send it now (a live relay holding it is
                     nudged to send it, and its attempt reported)
  --force            resend a delivered callback (the receiver lost it), or despite a log that does
                     not verify; same key, recorded as forced
  --config-dir DIR   the OpenCode config dir whose callback-relay.jsonc the plugin uses
                     (default: the usual one; --file is not enough: it needs target and token)

exit: 0 delivered, 1 not delivered or nothing to redeliver, 2 usage error
`,
};

/** The subcommands, in the order `did you mean` prefers them. */
export const AUDIT_SUBCOMMANDS = Object.keys(AUDIT_SUBCOMMAND_USAGE);
