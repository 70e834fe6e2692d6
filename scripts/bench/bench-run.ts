import type { TerminalRun } from "../../relay/index.ts";
import { buildTitle } from "../../relay/index.ts";

/** A summary of the size a real long answer is quoted at (summaryMaxChars defaults to 4,000). */
const SUMMARY = "Done. ".repeat(700).slice(0, 4_000);

/** A completed, tagged terminal run as the plugin hands it to the relay; `runId` makes it unique. */
export function benchRun(runId: string, sessionId = `ses_${runId}`): TerminalRun {
  const title = buildTitle(`bench ${runId}`, {
    runId,
    taskId: `T-${runId}`,
    requested: "build",
    resolved: "build",
    callbackSession: "agent:main:main",
  });
  const now = Date.now();
  return {
    sessionId,
    pinnedTitle: title,
    currentTitle: title,
    outcome: "completed",
    agentRan: "build",
    summary: SUMMARY,
    filesChanged: ["src/a.ts", "src/b.ts"],
    tokens: { input: 1200, output: 3400, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
    cost: 0.01,
    startedAt: now - 2_500,
    endedAt: now,
    model: "fake/fake-model",
  };
}
