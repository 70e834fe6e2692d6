import type { Callback, RoutingFields } from "../../relay/callback/callback.ts";
import { idempotencyKey } from "../../relay/callback/idempotency-key.ts";

export interface CallbackOverrides {
  routing?: Partial<RoutingFields>;
  report?: Partial<Callback["report"]>;
}

/** A complete accepted callback (every routing field and report figure set); override what a test needs. */
export function sampleCallback(overrides: CallbackOverrides = {}): Callback {
  return {
    dedupeKey: "ses_1|run-abc",
    idempotencyKey: idempotencyKey("ses_1|run-abc"),
    acceptedAt: 1_700_000_100_000,
    routing: {
      runId: "run-abc",
      taskId: "T-1",
      requestedAgent: "coder",
      resolvedAgent: "coder",
      actualAgent: "coder",
      fallbackUsed: false,
      callbackSession: "agent:main:main",
      callbackSessionId: "cs-9",
      opencodeSessionId: "ses_1",
      projectId: "proj-1",
      repoRoot: "/repo",
      outcome: "completed",
      ...overrides.routing,
    },
    report: {
      titleText: "T-1 implement the parser",
      error: null,
      summary: "Implemented the parser and its tests.",
      filesChanged: ["relay/parse.ts", "test/parse.test.ts"],
      tokens: { input: 1234, output: 567, reasoning: 8, cacheRead: 90, cacheWrite: 1 },
      cost: 0.0123,
      durationMs: 192_000,
      model: "anthropic/claude-sonnet",
      startedAt: 1_700_000_000_000,
      endedAt: 1_700_000_192_000,
      ...overrides.report,
    },
  };
}
