/**
 * The public surface of relay/: what plugin/ and scripts/ (and anyone running the relay without
 * OpenCode) build on. relay/ never imports OpenCode.
 *
 * Held back on purpose, importable by path for tests and tools but not promised here:
 * - the pieces createRelay wires together (dedupe-store, outbox, outbox-lease, delivery-loop,
 *   send-attempt, retry-policy, build-callback, build-request, build-report): their shapes follow
 *   the on-disk formats and may change with them; `Relay` is the stable way in;
 * - the audit log's internals (audit-writer, audit-lock, audit-files, audit-snapshot, hash-record,
 *   read-lines, read-tail): `openAuditLog`, `readAudit` and `verifyAudit` are the contract;
 * - redact and substitute-env: helpers of the audit log and of load-config.
 */

// Audit.
export { type AuditLog, type AuditLogOptions, openAuditLog } from "./audit-log.ts";
export {
  AUDIT_PHASES,
  AUDIT_SCHEMA_VERSION,
  type AuditInput,
  type AuditPhase,
  type AuditRecord,
} from "./audit-record.ts";
// Titles and integrity.
export { buildTitle } from "./build-title.ts";
export type { Callback, RoutingFields, RunReport } from "./callback.ts";
export { checkIntegrity, type IntegrityVerdict } from "./check-integrity.ts";
// Configuration.
export { configSchema, type RelayConfig, type RelayConfigInput, type TargetKind } from "./config-schema.ts";
export {
  CONFIG_FILE_NAME,
  defaultAuditPath,
  defaultConfigDir,
  defaultStateDir,
  resolveUserPath,
} from "./default-paths.ts";
// Errors.
export { ERROR_CODES, type ErrorCode, type ErrorKind, RelayError, toRelayError } from "./errors.ts";
export { CONFIG_ENV_VAR, type LoadConfigResult, type LoadedConfig, loadConfig } from "./load-config.ts";
export { hasRunId, parseTitle } from "./parse-title.ts";
export { type ReadAuditOptions, readAudit } from "./read-audit.ts";
// Operators and receivers.
export { type RedeliverOptions, type RedeliverResult, redeliver } from "./redeliver.ts";
// Running a relay.
export { createRelay, type Relay, type RelayOptions } from "./relay.ts";
export { signWebhook } from "./sign-webhook.ts";
export type { InstanceInfo, Outcome, TerminalRun, TokenUsage } from "./terminal-run.ts";
export { KNOWN_TAG_KEYS, type KnownTagKey, type ParsedTitle, type TitleTags } from "./title-tags.ts";
export { type VerifyProblem, type VerifyResult, verifyAudit } from "./verify-audit.ts";
export { verifyWebhook } from "./verify-webhook.ts";
