/**
 * The public surface of relay/: what plugin/ and scripts/ import (never relay's files by path), and
 * what anyone running the relay without OpenCode builds on. relay/ never imports OpenCode.
 *
 * Each concept folder has an index.ts of its own, which is what the other folders import:
 * - `title/` tags, `parseTitle`, `buildTitle`; `integrity/` the fail-closed checks;
 * - `config/` schema, loading, `{env:…}` substitution, default paths;
 * - `callback/` the run, the report, request bodies per target kind, webhook signing;
 * - `delivery/` retry policy (every retry decision), one attempt, attempt-and-record, the delivery
 *   loop, redelivery;
 * - `state/` outbox, leases, dedupe markers, the run journal, process owners,
 *   durable file writes;
 * - `audit/` record schema, hash chain, writer, reader, verifier, redaction;
 * - `core/` `createRelay`, which wires accepting a run and recovering the outbox together on one
 *   `RelayState`; `errors/` `RelayError` and the codes.
 *
 * Held back on purpose (importable by path from tests, not promised here): the pieces createRelay
 * wires together (outbox, leases, dedupe store, delivery loop, attempts, request builders) follow
 * the on-disk formats and may change with them; `Relay` is the stable way in.
 */

// The audit log.
export {
  AUDIT_KEY_FILE,
  AUDIT_PHASES,
  AUDIT_SCHEMA_VERSION,
  type AuditAnchor,
  type AuditInput,
  type AuditLog,
  type AuditLogOptions,
  type AuditPhase,
  type AuditRecord,
  listRotated,
  openAuditLog,
  type ReadAuditOptions,
  readAudit,
  readAuditKey,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyResult,
  verifyAudit,
} from "./audit/index.ts";
// Runs, callbacks and receivers.
export {
  type Callback,
  describeRunError,
  type InstanceInfo,
  type Outcome,
  parseReportBlock,
  type RoutingFields,
  type RunReport,
  signWebhook,
  type TerminalRun,
  type TokenUsage,
  verifyWebhook,
  type WebhookVerdict,
  webhookSecretKey,
} from "./callback/index.ts";
// Configuration.
export {
  CONFIG_ENV_VAR,
  CONFIG_FILE_NAME,
  configSchema,
  defaultAuditPath,
  defaultConfigDir,
  defaultStateDir,
  isPlainObject,
  type LoadConfigResult,
  type LoadedConfig,
  loadConfig,
  type RelayConfig,
  type RelayConfigInput,
  resolveUserPath,
  type TargetKind,
} from "./config/index.ts";
// Running a relay, and redelivering what it could not.
export { createRelay, type Relay, type RelayOptions } from "./core/index.ts";
export {
  type RedeliverOptions,
  type RedeliverResult,
  redeliver,
  sendTestCallback,
  TEST_CALLBACK_LABEL,
  type TestCallbackResult,
} from "./delivery/index.ts";
// Errors.
export {
  ERROR_CODES,
  type ErrorCode,
  type ErrorKind,
  NOTICE_PREFIX,
  type Notice,
  noticeLine,
  printNotice,
  RelayError,
  toRelayError,
} from "./errors/index.ts";
export { checkIntegrity, type IntegrityVerdict } from "./integrity/index.ts";
// The run journal and process owners (durable from first sight, start-up reconciliation).
export {
  currentOwner,
  findJournalOrphans,
  type JournalEntry,
  type JournalScan,
  type JournalVerdict,
  judgeJournalEntry,
  type Liveness,
  openRunJournal,
  ownerLiveness,
  type ProcessOwner,
  type RunJournal,
  renewOwner,
  type Schedule,
  unrefTimeout,
} from "./state/index.ts";
// Titles and integrity.
export {
  buildTitle,
  hasRunId,
  KNOWN_TAG_KEYS,
  type KnownTagKey,
  type ParsedTitle,
  parseTitle,
  type RunIdentity,
  rawRunId,
  runIdentity,
  type TitleTags,
} from "./title/index.ts";
