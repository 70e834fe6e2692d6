import { describe, expect, it } from "vitest";
import { createSessionTracker, type TurnEnd } from "../../plugin/session-tracker.ts";
import { type SessionMessage, settleRun } from "../../plugin/settle-run.ts";
import { loadEvents, loadMessages, type Scenario } from "../fixtures/load-fixture.ts";

const WORKTREE = "/tmp/e2e/project";

/** The last terminal point of a recorded scenario, as the tracker reports it. */
function lastEnd(scenario: Scenario): TurnEnd {
  const ends: TurnEnd[] = [];
  const tracker = createSessionTracker({ onTerminal: (end) => ends.push(end) });
  for (const event of loadEvents(scenario)) tracker.handle(event);
  const end = ends.at(-1);
  if (!end) throw new Error(`${scenario}: no terminal point`);
  return end;
}

async function settle(scenario: Scenario, fetch?: () => Promise<SessionMessage[]>) {
  let fetches = 0;
  let waits = 0;
  const result = await settleRun({
    end: lastEnd(scenario),
    fetchMessages: async () => {
      fetches += 1;
      return fetch ? fetch() : (loadMessages(scenario) as SessionMessage[]);
    },
    waitForChange: async () => {
      waits += 1;
    },
    worktree: WORKTREE,
  });
  return { ...result, fetches, waits };
}

describe("settleRun on recorded sessions", () => {
  it("reports a completed turn with the last answer, the agent, model, tokens and cost", async () => {
    const { run, fetches, fetchError } = await settle("completed");
    expect(fetchError).toBeUndefined();
    expect(fetches).toBe(1);
    expect(run).toMatchObject({
      outcome: "completed",
      agentRan: "build",
      model: "fake/fake-model",
      tokens: { input: 12, output: 5, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
      cost: 0,
      filesChanged: [],
    });
    expect(run.summary.length).toBeGreaterThan(0);
    expect(run.error).toBeUndefined();
  });

  it("maps a provider error to failed and an abort to aborted, carrying the error", async () => {
    const failed = (await settle("error401")).run;
    expect(failed.outcome).toBe("failed");
    expect(failed.error?.name).toBe("APIError");
    const aborted = (await settle("abort")).run;
    expect(aborted.outcome).toBe("aborted");
    expect(aborted.error?.name).toBe("MessageAbortedError");
  });

  it("maps an abort during a retry wait (no error anywhere) to aborted", async () => {
    const { run } = await settle("retry");
    expect(run.outcome).toBe("aborted");
    expect(run.error?.name).toBe("MessageAbortedError");
  });

  it("lists files from patch parts relative to the worktree, once", async () => {
    expect((await settle("write")).run.filesChanged).toEqual(["notes.txt"]);
  });

  it("sums tokens over every step of a tool-using turn and quotes the final answer", async () => {
    const { run } = await settle("task");
    expect(run.tokens?.input).toBe(24);
    expect(run.tokens?.output).toBe(10);
    expect(run.summary).toBe("Done.");
  });
});

describe("settleRun waiting for the message to settle", () => {
  const unsettled = () => {
    const messages = loadMessages("error401") as SessionMessage[];
    return messages.map((m) => {
      const { error: _error, time, ...info } = m.info;
      return { ...m, info: { ...info, time: { created: time?.created ?? 0 } } };
    });
  };

  it("reads again after the next change when the first read is not settled yet", async () => {
    let call = 0;
    const { run, fetches, waits } = await settle("error401", async () =>
      call++ === 0 ? unsettled() : (loadMessages("error401") as SessionMessage[]),
    );
    expect(fetches).toBe(2);
    expect(waits).toBe(1);
    expect(run.outcome).toBe("failed");
  });

  it("gives up after the grace period with what is known", async () => {
    let clock = 0;
    const end = lastEnd("error401");
    const { run } = await settleRun({
      end,
      fetchMessages: async () => unsettled(),
      waitForChange: async (_id, timeoutMs) => {
        clock += timeoutMs;
      },
      worktree: WORKTREE,
      graceMs: 1_500,
      now: () => clock,
    });
    expect(clock).toBe(1_500);
    expect(run.outcome).toBe("failed");
  });

  it("still builds the run from the events when the messages cannot be read", async () => {
    let clock = 0;
    const { run, fetchError } = await settleRun({
      end: lastEnd("abort"),
      fetchMessages: async () => {
        throw new Error("connection refused");
      },
      waitForChange: async (_id, timeoutMs) => {
        clock += timeoutMs;
      },
      worktree: WORKTREE,
      now: () => clock,
    });
    expect(fetchError).toBeInstanceOf(Error);
    expect(run).toMatchObject({ outcome: "aborted", summary: "", filesChanged: [] });
    expect(run.error?.name).toBe("MessageAbortedError");
  });
});
