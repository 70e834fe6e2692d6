import { isAbsolute, relative, sep } from "node:path";
import { describeRunError, type TerminalRun, type TokenUsage } from "../relay/index.ts";
import type { TurnEnd } from "./session-tracker.ts";

/** One entry of `GET /session/:id/message`, loosely typed: only what the report reads. */
export interface SessionMessage {
  info: {
    id?: string;
    role?: string;
    parentID?: string;
    agent?: string;
    mode?: string;
    providerID?: string;
    modelID?: string;
    cost?: number;
    error?: unknown;
    time?: { created?: number; completed?: number };
    /** Why the step ended: `stop`, `tool-calls` (more steps follow), … */
    finish?: string;
    tokens?: {
      input?: number;
      output?: number;
      reasoning?: number;
      cache?: { read?: number; write?: number };
    };
    summary?: unknown;
  };
  parts: Array<{
    type?: string;
    text?: string;
    synthetic?: boolean;
    ignored?: boolean;
    files?: unknown;
    /** A streamed text part: `end` is set once its whole text is written. */
    time?: { start?: number; end?: number };
  }>;
}

export interface SettleOptions {
  end: TurnEnd;
  /**
   * The session's newest messages, oldest first, holding at least the turn that ended at
   * `end.endedAt` whole (`readLastTurn`); the whole history also does.
   */
  fetchMessages: (sessionId: string) => Promise<SessionMessage[]>;
  /** Resolves at the session's next `message.updated` or idle, or after `timeoutMs`. */
  waitForChange: (sessionId: string, timeoutMs: number) => Promise<void>;
  /** Patch paths inside it are reported relative to it. */
  worktree: string;
  /** How long to wait for the last assistant message to settle, ms. @default 1500 */
  graceMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface Settled {
  run: TerminalRun;
  /** Set when the messages could not be read: the run carries only what the events told. */
  fetchError?: unknown;
}

/** Re-reads after a change before giving up on a settled message (the grace bounds it too). */
const MAX_FETCHES = 5;

/**
 * Turn a terminal point into the TerminalRun the relay takes: read the turn's settled last
 * assistant message for the summary, files, tokens, cost, model and the agent that ran.
 *
 * After an error or abort OpenCode goes idle before it writes the error onto the message, so an
 * unsettled message (neither `time.completed` nor `error`) is read again at the session's next
 * change, within `graceMs`. Never rejects: a failed read yields a run built from the events alone.
 */
export async function settleRun(options: SettleOptions): Promise<Settled> {
  const { end } = options;
  const now = options.now ?? Date.now;
  const deadline = now() + (options.graceMs ?? 1_500);
  let messages: SessionMessage[] = [];
  let fetchError: unknown;
  for (let fetches = 0; fetches < MAX_FETCHES; fetches += 1) {
    try {
      messages = await options.fetchMessages(end.sessionId);
      fetchError = undefined;
    } catch (error) {
      fetchError = error;
    }
    const remaining = deadline - now();
    if ((fetchError === undefined && turnSettled(messages, end.endedAt)) || remaining <= 0) break;
    await options.waitForChange(end.sessionId, remaining);
  }
  const run = buildRun(end, messages, options.worktree);
  return fetchError === undefined ? { run } : { run, fetchError };
}

/**
 * The run at once, when `messages` (what the events told) already hold the turn settled: its last
 * assistant message completed or failed, or no answer at all. `undefined` when settleRun() must
 * wait for the message to settle (after an error or abort the first idle comes before it).
 */
export function settledNow(
  end: TurnEnd,
  messages: SessionMessage[],
  worktree: string,
): TerminalRun | undefined {
  return turnSettled(messages, end.endedAt) ? buildRun(end, messages, worktree) : undefined;
}

/** Whether the turn that ended at `endedAt` has nothing left to settle in `messages`. */
function turnSettled(messages: SessionMessage[], endedAt: number): boolean {
  const last = lastAssistant(messages, endedAt);
  return !last || isSettled(last);
}

/**
 * The turn's last assistant message. Messages created after the terminal point belong to a
 * later turn (the caller may prompt again at once) and are skipped.
 */
function lastAssistant(messages: SessionMessage[], endedAt: number): SessionMessage | undefined {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const message = messages[i];
    if (!message || (message.info.time?.created ?? 0) > endedAt) continue;
    if (message.info.role === "assistant") return message;
    // A user message after every assistant one: this turn wrote no answer.
    if (message.info.role === "user") return undefined;
  }
  return undefined;
}

function isSettled(message: SessionMessage): boolean {
  return message.info.time?.completed !== undefined || message.info.error !== undefined;
}

/** The TerminalRun for a turn, from its end and the session's messages (possibly none). */
export function buildRun(end: TurnEnd, messages: SessionMessage[], worktree: string): TerminalRun {
  const last = lastAssistant(messages, end.endedAt);
  // Every assistant message of one turn answers the same user message.
  const turn = last
    ? messages.filter((m) => m.info.role === "assistant" && m.info.parentID === last.info.parentID)
    : [];
  const user = last ? messages.find((m) => m.info.id === last.info.parentID) : undefined;

  const run: TerminalRun = {
    sessionId: end.sessionId,
    pinnedTitle: end.pinnedTitle,
    currentTitle: end.currentTitle,
    outcome: "completed",
    summary: last ? textOf(last) : "",
    filesChanged: filesOf(turn, user, worktree),
    startedAt: end.startedAt,
    endedAt: end.endedAt,
  };

  const error = end.error ?? (last?.info.error === undefined ? undefined : describeRunError(last.info.error));
  if (error) {
    run.outcome = error.name === "MessageAbortedError" ? "aborted" : "failed";
    run.error = error;
  } else if (end.endedInRetry) {
    // OpenCode reports an abort during a retry wait with no error at all.
    run.outcome = "aborted";
    run.error = { name: "MessageAbortedError", message: "aborted while waiting to retry the model request" };
  }

  if (last) {
    const agent = last.info.agent ?? last.info.mode;
    if (agent) run.agentRan = agent;
    if (last.info.providerID && last.info.modelID) run.model = `${last.info.providerID}/${last.info.modelID}`;
    if (turn.some((m) => m.info.tokens)) run.tokens = sumTokens(turn);
    if (turn.some((m) => typeof m.info.cost === "number")) {
      run.cost = turn.reduce((sum, m) => sum + (typeof m.info.cost === "number" ? m.info.cost : 0), 0);
    }
  }
  return run;
}

function textOf(message: SessionMessage): string {
  return message.parts
    .filter((p) => p.type === "text" && typeof p.text === "string" && !p.synthetic && !p.ignored)
    .map((p) => p.text)
    .join("\n")
    .trim();
}

/** Tokens and cost are the turn's total: every step of a tool-using turn is billed. */
function sumTokens(turn: SessionMessage[]): TokenUsage {
  const total: TokenUsage = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
  for (const { info } of turn) {
    const t = info.tokens;
    if (!t) continue;
    total.input += t.input ?? 0;
    total.output += t.output ?? 0;
    total.reasoning += t.reasoning ?? 0;
    total.cacheRead += t.cache?.read ?? 0;
    total.cacheWrite += t.cache?.write ?? 0;
  }
  return total;
}

/** `patch` parts name absolute paths; the user message's `summary.diffs` relative ones. */
function filesOf(turn: SessionMessage[], user: SessionMessage | undefined, worktree: string): string[] {
  const files = new Set<string>();
  const add = (file: unknown) => {
    if (typeof file !== "string" || file === "") return;
    const inside = isAbsolute(file) && worktree !== "/" && file.startsWith(worktree + sep);
    files.add(inside ? relative(worktree, file) : file);
  };
  for (const message of turn) {
    for (const part of message.parts) {
      if (part.type === "patch" && Array.isArray(part.files)) part.files.forEach(add);
    }
  }
  const diffs = (user?.info.summary as { diffs?: Array<{ file?: unknown }> } | undefined)?.diffs;
  if (Array.isArray(diffs)) for (const diff of diffs) add(diff?.file);
  return [...files];
}
