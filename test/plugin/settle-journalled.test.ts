import { describe, expect, it } from "vitest";
import { settleJournalled } from "../../plugin/settle-journalled.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import { loadMessages, type Scenario } from "../fixtures/load-fixture.ts";
import { journalEntry } from "../helpers/journal-entry.ts";

const NOW = 1_795_239_999_000;
const messages = (scenario: Scenario) => loadMessages(scenario) as unknown as SessionMessage[];
/** The journal entry of a run whose first busy came `afterMs` after its user message. */
const entryAt = (messageList: SessionMessage[], index: number, afterMs = 5) =>
  journalEntry("ses_j", "run-j", { startedAt: (messageList[index]?.info.time?.created ?? 0) + afterMs });

describe("settleJournalled", () => {
  it("reports a stored, settled turn as completed, with its own turn's text and not a later turn's", () => {
    const stored = messages("completed");
    const first = settleJournalled(entryAt(stored, 0), stored, "current", "/srv/proj", NOW);
    expect(first.outcome).toBe("completed");
    expect(first.endedAt).toBe(stored[1]?.info.time?.completed);
    const second = settleJournalled(entryAt(stored, 2), stored, "current", "/srv/proj", NOW);
    expect(second.endedAt).toBe(stored[3]?.info.time?.completed);
    expect(second.currentTitle).toBe("current");
  });

  it("reports a stored provider error as failed and a stored abort as aborted", () => {
    const failed = messages("error401");
    expect(settleJournalled(entryAt(failed, 0), failed, "t", "/", NOW)).toMatchObject({
      outcome: "failed",
      error: { name: "APIError" },
    });
    const aborted = messages("abort");
    expect(settleJournalled(entryAt(aborted, 0), aborted, "t", "/", NOW)).toMatchObject({
      outcome: "aborted",
      error: { name: "MessageAbortedError" },
    });
  });

  it("reports a tool-using turn by its last step", () => {
    const stored = messages("task");
    expect(settleJournalled(entryAt(stored, 0), stored, "t", "/", NOW).outcome).toBe("completed");
  });

  it("reports a turn that never settled as interrupted: no answer, an unfinished answer, a step awaiting tools", () => {
    const task = messages("task");
    const noAnswer = task.slice(0, 1);
    expect(settleJournalled(entryAt(noAnswer, 0), noAnswer, "t", "/", NOW).outcome).toBe("interrupted");
    const awaitingTools = task.slice(0, 2);
    expect(settleJournalled(entryAt(awaitingTools, 0), awaitingTools, "t", "/", NOW).outcome).toBe(
      "interrupted",
    );
    const streaming = structuredClone(messages("completed").slice(0, 2));
    delete streaming[1]?.info.time?.completed;
    const run = settleJournalled(entryAt(streaming, 0), streaming, "t", "/", NOW);
    expect(run).toMatchObject({ outcome: "interrupted", endedAt: NOW });
    expect(run.error).toBeUndefined();
    expect(settleJournalled(entryAt([], 0), [], "t", "/", NOW).outcome).toBe("interrupted");
  });
});
