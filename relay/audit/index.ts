export { listRotated } from "./audit-files.ts";
export { AUDIT_KEY_FILE, readAuditKey } from "./audit-key.ts";
export { type AuditLog, type AuditLogOptions, openAuditLog } from "./audit-log.ts";
export {
  AUDIT_PHASES,
  AUDIT_SCHEMA_VERSION,
  type AuditInput,
  type AuditPhase,
  type AuditRecord,
} from "./audit-record.ts";
export { type ReadAuditOptions, readAudit } from "./read-audit.ts";
export { redact } from "./redact.ts";
export { type VerifyOptions, type VerifyProblem, type VerifyResult, verifyAudit } from "./verify-audit.ts";
export type { AuditAnchor } from "./verify-end.ts";
