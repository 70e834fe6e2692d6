import type { AuditInput } from "../audit/index.ts";
import type { CallbackIds } from "../callback/index.ts";
import { toRelayError } from "../errors/index.ts";

/** The audit record of a state dir write that failed: delivery goes on in memory. */
export function stateErrorRecord(ids: CallbackIds, error: unknown): AuditInput {
  const err = toRelayError(error);
  // A state error keeps its own code (a refused link or folder says what to fix); anything else is
  // a write that failed.
  const code = err.kind === "state" ? err.code : "STATE_UNWRITABLE";
  const details = Object.keys(err.details).length > 0 ? { details: err.details } : {};
  return { ...ids, phase: "state_error", code, reason: err.message, hint: err.hint, ...details };
}
