import { type LoadedConfig, sendTestCallback } from "../../../relay/index.ts";
import { check, type DoctorCheck } from "./doctor-check.ts";

/** The caller session a test goes to when --session is not given, if the configured prefixes admit it. */
export const DEFAULT_TEST_SESSION = "agent:main:main";

/** Whether `session` passes the relay's own callbackSessionPrefixes check (case-insensitive, like the gateway). */
export function admitted(session: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => session.toLowerCase().startsWith(p.toLowerCase()));
}

/**
 * `doctor --send-test`: ONE real, labelled test callback along the configured route, and the
 * receiver's answer as the check. For OpenClaw agent mode that starts a turn in `session`: the
 * reason it is opt-in.
 */
export async function sendTest(loaded: LoadedConfig, session: string): Promise<DoctorCheck> {
  if (!admitted(session, loaded.config.callbackSessionPrefixes)) {
    return check(
      "send-test",
      "fail",
      `not sent: ${session} is outside callbackSessionPrefixes (${loaded.config.callbackSessionPrefixes.join(", ")})`,
      {
        code: "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED",
        fix: "pass --session with a caller session key the configuration admits",
      },
    );
  }
  const result = await sendTestCallback(loaded.config, { callbackSession: session });
  if (result.delivered) {
    return check(
      "send-test",
      "ok",
      `test callback delivered to ${session}: ${result.status} in ${result.durationMs} ms (runId ${result.runId})`,
    );
  }
  const status = result.status === undefined ? "" : ` ${result.status}`;
  return check(
    "send-test",
    "fail",
    `test callback to ${session} refused:${status} ${result.responseExcerpt}`,
    {
      code: result.code,
      fix: result.hint,
    },
  );
}
