import { realpathSync } from "node:fs";
import path from "node:path";
import type { InstanceInfo, TerminalRun } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { RelayError, toRelayError } from "../errors/index.ts";
import { type ParsedTitle, parseTitle, ROUTING_TAG_KEYS, type TitleTags } from "../title/index.ts";

/** The result of {@link checkIntegrity}: either the tags to route by, or the reason nothing is sent. */
export type IntegrityVerdict =
  | {
      ok: true;
      tags: TitleTags & { runId: string; callbackSession: string };
      parsed: ParsedTitle;
      /** requested ≠ resolved, or the agent that ran ≠ the expected one (resolved, else requested). */
      fallbackUsed: boolean;
      actualAgent: string | null;
    }
  | {
      ok: false;
      error: RelayError;
      /** Whatever the pinned title yielded, for the audit record; `{}` when it did not parse. */
      tags: TitleTags;
    };

/**
 * An OpenClaw session key: at least two non-empty `:`-separated segments (`agent:main:main`,
 * `agent:main:telegram:dm:123`). `@` and `+` appear in channel-derived keys (e-mail, phone).
 */
const SESSION_KEY = /^[A-Za-z0-9_.@+-]+(?::[A-Za-z0-9_.@+-]+)+$/;
const SESSION_ID = /^[A-Za-z0-9_.:-]+$/;
/** Matches the gateway's limit on keys it stores (and idempotency keys). */
const MAX_SESSION_KEY_LENGTH = 256;

/**
 * Decide, fail closed, whether a terminal run may call back, and where.
 *
 * Checks in order, each refusal with its own code: the pinned title parses (its TITLE_* code);
 * it has a runId (INTEGRITY_MISSING_RUN_ID) and a callbackSession
 * (INTEGRITY_MISSING_CALLBACK_SESSION; an empty value counts as missing); callbackSession is a
 * session key (INTEGRITY_MALFORMED_CALLBACK_SESSION); callbackSessionId, when present, is a plain
 * identifier (INTEGRITY_MALFORMED_CALLBACK_SESSION_ID; empty is malformed); callbackSession starts
 * with an allowed prefix, case-insensitively like the gateway
 * (INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED); the current title parses and carries the same routing
 * tags (INTEGRITY_TAGS_CHANGED); repoRoot names this instance's worktree or directory
 * (INTEGRITY_REPO_ROOT_MISMATCH); projectId is this instance's (INTEGRITY_PROJECT_MISMATCH); and,
 * when `integrity.onAgentMismatch` is "reject", no agent fallback happened
 * (INTEGRITY_AGENT_MISMATCH).
 *
 * Empty `requested`/`resolved`/agentRan values count as absent for the agent comparison.
 */
export function checkIntegrity(
  run: Pick<TerminalRun, "pinnedTitle" | "currentTitle" | "agentRan">,
  instance: InstanceInfo,
  config: Pick<RelayConfig, "callbackSessionPrefixes" | "integrity">,
): IntegrityVerdict {
  let parsed: ParsedTitle;
  try {
    parsed = parseTitle(run.pinnedTitle);
  } catch (error) {
    return { ok: false, error: toRelayError(error), tags: {} };
  }
  const tags = parsed.tags;
  const refuse = (error: RelayError): IntegrityVerdict => ({ ok: false, error, tags });

  const { runId, callbackSession, callbackSessionId } = tags;
  if (!runId) {
    return refuse(
      new RelayError(
        "INTEGRITY_MISSING_RUN_ID",
        "the title has no runId=… tag with a value, so this session is not a tracked run",
      ),
    );
  }
  if (!callbackSession) {
    return refuse(
      new RelayError(
        "INTEGRITY_MISSING_CALLBACK_SESSION",
        `run ${quote(runId)} has no callbackSession tag: add callbackSession=<caller session key> (e.g. agent:main:main) to the title`,
        { details: { runId } },
      ),
    );
  }
  if (callbackSession.length > MAX_SESSION_KEY_LENGTH || !SESSION_KEY.test(callbackSession)) {
    return refuse(
      new RelayError(
        "INTEGRITY_MALFORMED_CALLBACK_SESSION",
        `callbackSession ${quote(callbackSession)} is not a session key: expected at most ${MAX_SESSION_KEY_LENGTH} characters in ':'-separated segments (at least two) of letters, digits and _ . @ + -, such as agent:main:main`,
        {
          hint: "callbackSession must look like agent:<agentId>:<name>: at least two ':'-separated segments of letters, digits, _ . @ + -",
          details: { callbackSession },
        },
      ),
    );
  }
  if (
    callbackSessionId !== undefined &&
    (callbackSessionId.length > MAX_SESSION_KEY_LENGTH || !SESSION_ID.test(callbackSessionId))
  ) {
    return refuse(
      new RelayError(
        "INTEGRITY_MALFORMED_CALLBACK_SESSION_ID",
        `callbackSessionId ${quote(callbackSessionId)} is not a plain identifier: expected 1 to ${MAX_SESSION_KEY_LENGTH} letters, digits, : _ - .`,
        { details: { callbackSessionId } },
      ),
    );
  }
  const lowered = callbackSession.toLowerCase();
  if (!config.callbackSessionPrefixes.some((prefix) => lowered.startsWith(prefix.toLowerCase()))) {
    return refuse(
      new RelayError(
        "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED",
        `callbackSession ${quote(callbackSession)} does not start with any allowed prefix (${config.callbackSessionPrefixes.map(quote).join(", ")}): fix the title or add its prefix to callbackSessionPrefixes (and the gateway's hooks.allowedSessionKeyPrefixes)`,
        { details: { callbackSession, allowedPrefixes: [...config.callbackSessionPrefixes] } },
      ),
    );
  }

  // An unedited title (the usual case) parses to the very tags already checked: not parsed twice.
  const changed = run.currentTitle === run.pinnedTitle ? null : compareRoutingTags(tags, run.currentTitle);
  if (changed) return refuse(changed);

  if (tags.repoRoot !== undefined && !isThisRepo(tags.repoRoot, instance)) {
    const expected =
      instance.worktree === "/" ? [instance.directory] : [instance.worktree, instance.directory];
    return refuse(
      new RelayError(
        "INTEGRITY_REPO_ROOT_MISMATCH",
        `repoRoot ${quote(tags.repoRoot)} is not the project this opencode serve runs in (${[...new Set(expected)].map(quote).join(" or ")}): send the run to the serve started in that repository, or fix the tag`,
        { details: { repoRoot: tags.repoRoot, worktree: instance.worktree, directory: instance.directory } },
      ),
    );
  }
  if (tags.projectId !== undefined && tags.projectId !== instance.projectId) {
    return refuse(
      new RelayError(
        "INTEGRITY_PROJECT_MISMATCH",
        `projectId ${quote(tags.projectId)} is not the project this opencode serve runs in (${quote(instance.projectId)}): send the run to the serve of that project, or fix the tag`,
        { details: { projectId: tags.projectId, instanceProjectId: instance.projectId } },
      ),
    );
  }

  const requested = tags.requested || null;
  const resolved = tags.resolved || null;
  const actualAgent = run.agentRan || null;
  // Without a resolved tag the requested agent is what the caller expects to run.
  const expected = resolved ?? requested;
  const fallbackUsed =
    (requested !== null && resolved !== null && requested !== resolved) ||
    (actualAgent !== null && expected !== null && actualAgent !== expected);
  if (fallbackUsed && config.integrity.onAgentMismatch === "reject") {
    return refuse(
      new RelayError(
        "INTEGRITY_AGENT_MISMATCH",
        `the agents differ (requested ${quote(requested)}, resolved ${quote(resolved)}, ran ${quote(actualAgent)}) and integrity.onAgentMismatch is "reject": make the requested agent available, or set onAgentMismatch to "report"`,
        { details: { requested, resolved, actual: actualAgent } },
      ),
    );
  }

  return {
    ok: true,
    tags: { ...tags, runId, callbackSession },
    parsed,
    fallbackUsed,
    actualAgent,
  };
}

/** INTEGRITY_TAGS_CHANGED when the current title does not parse or its routing tags differ. */
function compareRoutingTags(pinned: TitleTags, currentTitle: string): RelayError | null {
  const pinnedRouting = pickRouting(pinned);
  let current: TitleTags;
  try {
    current = parseTitle(currentTitle).tags;
  } catch (error) {
    const cause = toRelayError(error);
    return new RelayError(
      "INTEGRITY_TAGS_CHANGED",
      `the title was edited during the run and no longer parses (${cause.code}): start a new runId instead of editing the title`,
      { cause, details: { pinned: pinnedRouting, current: null, currentError: cause.code } },
    );
  }
  const changed = ROUTING_TAG_KEYS.filter((key) => pinned[key] !== current[key]);
  if (changed.length === 0) return null;
  const currentRouting = pickRouting(current);
  const described = changed.map((key) => `${key} ${quote(pinned[key])} → ${quote(current[key])}`).join(", ");
  return new RelayError(
    "INTEGRITY_TAGS_CHANGED",
    `routing tags changed during the run (${described}): start a new runId instead of editing the title`,
    { details: { changed, pinned: pinnedRouting, current: currentRouting } },
  );
}

function pickRouting(tags: TitleTags): Record<string, string | null> {
  return Object.fromEntries(ROUTING_TAG_KEYS.map((key) => [key, tags[key] ?? null]));
}

/**
 * repoRoot must be absolute (relative to what?) and name the worktree or the served directory;
 * a worktree of "/" means "not in git", so only the directory counts then. Real paths are
 * compared as a second chance so a symlinked spelling of the same directory (macOS /tmp) passes.
 */
function isThisRepo(repoRoot: string, instance: InstanceInfo): boolean {
  if (!path.isAbsolute(repoRoot)) return false;
  const candidates =
    instance.worktree === "/" ? [instance.directory] : [instance.worktree, instance.directory];
  const wanted = path.resolve(repoRoot);
  if (candidates.some((candidate) => path.resolve(candidate) === wanted)) return true;
  const real = realPath(wanted);
  return real !== null && candidates.some((candidate) => realPath(path.resolve(candidate)) === real);
}

function realPath(p: string): string | null {
  try {
    return realpathSync.native(p);
  } catch {
    return null;
  }
}

function quote(value: string | null | undefined): string {
  return value === null || value === undefined ? "(none)" : JSON.stringify(value);
}
