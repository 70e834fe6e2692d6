import {
  checkIntegrity,
  type ErrorCode,
  type ParsedTitle,
  parseTitle,
  type RelayConfig,
  toRelayError,
} from "../../relay/index.ts";

/** What the relay would read from a title, as `title --explain` and `dispatch` report it. */
export type TitleExplanation =
  | {
      ok: true;
      title: string;
      text: string;
      tags: ParsedTitle["tags"];
      extra: ParsedTitle["extra"];
      /** Where the callback goes: the caller session, and its id when the title names one. */
      route: { callbackSession: string; callbackSessionId: string | null };
      /** requested ≠ resolved: the callback will say `fallbackUsed: true`. */
      fallbackUsed: boolean;
    }
  | {
      ok: false;
      title: string;
      code: ErrorCode;
      message: string;
      hint: string;
      /** What parsed before the refusal (empty when the title itself does not parse). */
      tags: ParsedTitle["tags"];
      /** INTEGRITY_MISSING_RUN_ID: the relay ignores the session silently instead of auditing a refusal. */
      ignored: boolean;
    };

/**
 * Read a title the way the relay does at the end of a run: parseTitle, then checkIntegrity with the
 * given policy. What only the serving instance knows (does repoRoot/projectId name the project it
 * runs in, which agent actually ran) cannot be checked here: the instance is taken to be the one
 * the tags name, so those rules pass and are left to the `opencode serve` the run goes to.
 */
export function explainTitle(
  title: string,
  policy: Pick<RelayConfig, "callbackSessionPrefixes" | "integrity">,
): TitleExplanation {
  let parsed: ParsedTitle;
  try {
    parsed = parseTitle(title);
  } catch (error) {
    return refused(title, error, {});
  }
  const repoRoot = parsed.tags.repoRoot;
  const instance = {
    projectId: parsed.tags.projectId ?? "global",
    worktree: repoRoot ?? "/",
    directory: repoRoot ?? "/",
  };
  const verdict = checkIntegrity({ pinnedTitle: title, currentTitle: title }, instance, policy);
  if (!verdict.ok) return refused(title, verdict.error, verdict.tags);
  return {
    ok: true,
    title,
    text: parsed.text,
    tags: parsed.tags,
    extra: parsed.extra,
    route: {
      callbackSession: verdict.tags.callbackSession,
      callbackSessionId: verdict.tags.callbackSessionId ?? null,
    },
    fallbackUsed: verdict.fallbackUsed,
  };
}

function refused(title: string, error: unknown, tags: ParsedTitle["tags"]): TitleExplanation {
  const relayError = toRelayError(error);
  return {
    ok: false,
    title,
    code: relayError.code,
    message: relayError.message,
    hint: relayError.hint,
    tags,
    ignored: relayError.code === "INTEGRITY_MISSING_RUN_ID",
  };
}
