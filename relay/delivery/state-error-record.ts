import type { AuditInput } from "../audit/index.ts";
import type { CallbackIds } from "../callback/index.ts";
import { toRelayError } from "../errors/index.ts";

/** The audit record of a state dir write that failed: delivery goes on in memory. */
export function stateErrorRecord(ids: CallbackIds, error: unknown): AuditInput {
  const err = toRelayError(error);
  return { ...ids, phase: "state_error", code: "STATE_UNWRITABLE", reason: err.message, hint: err.hint };
}
