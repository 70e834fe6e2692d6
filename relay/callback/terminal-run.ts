/**
 * What the plugin hands the relay when a tagged session's run reaches its terminal point.
 * The relay owns everything after this: title parsing, integrity, dedupe, payload, delivery, audit.
 */
export type Outcome = "completed" | "failed" | "aborted" | "interrupted";

/** The OpenCode instance the plugin runs in (one project = one serve). */
export interface InstanceInfo {
  /** `input.project.id` ("global" outside git). */
  projectId: string;
  /** `input.worktree` ("/" outside git). */
  worktree: string;
  /** `input.directory`: the directory this plugin instance serves. */
  directory: string;
  /** `input.serverUrl` as a string, for the report. */
  serverUrl?: string;
}

export interface TokenUsage {
  input: number;
  output: number;
  reasoning: number;
  cacheRead: number;
  cacheWrite: number;
}

export interface TerminalRun {
  sessionId: string;
  /** The title as first seen for this run (tags are pinned at first sight). */
  pinnedTitle: string;
  /** The title as it is at the terminal point; differs from pinnedTitle when edited mid-run. */
  currentTitle: string;
  outcome: Outcome;
  /** The error of the turn (`session.error` or the message's `info.error`), for failed/aborted. */
  error?: { name: string; message: string };
  /** The agent that actually ran (last assistant message's `agent` or `mode`). */
  agentRan?: string;
  /** Text of the last assistant message (may be empty). */
  summary: string;
  /** Files the turn changed, relative to the worktree where OpenCode reports them so. */
  filesChanged: string[];
  tokens?: TokenUsage;
  /** Cost in USD as OpenCode reports it. */
  cost?: number;
  /** Epoch ms when the turn went busy (or the first message of the turn was created). */
  startedAt: number;
  /** Epoch ms of the terminal point. */
  endedAt: number;
  /** Model that answered, as `providerID/modelID`. */
  model?: string;
  /**
   * Where the plugin took the turn from: the events OpenCode handed its hook (`events`), or a
   * read of the session's stored messages (`read`). The `accepted` record says which.
   */
  settledFrom?: "events" | "read";
}
