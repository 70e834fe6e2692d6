export { listRotated } from "./audit-files.ts";
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
export { type VerifyProblem, type VerifyResult, verifyAudit } from "./verify-audit.ts";
