import { describe, expect, it } from "vitest";
import { findInterrupted, type SessionSummary } from "../../plugin/find-interrupted.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import { loadMessages } from "../fixtures/load-fixture.ts";
import { answerOf, limitedReader, syntheticSession } from "../helpers/synthetic-session.ts";

const settled = loadMessages("completed") as SessionMessage[];
/** The recorded session with its last assistant message cut off mid-turn (as after SIGKILL). */
const cutOff = settled.map((m, i) =>
  i === settled.length - 1 ? { ...m, info: { ...m.info, time: { created: m.info.time?.created ?? 0 } } } : m,
);
const lastCreated = settled.at(-1)?.info.time?.created ?? 0;
const session = (id: string, title: string): SessionSummary => ({
  id,
  title,
  time: { updated: lastCreated },
});

function scan(
  sessions: SessionSummary[],
  messages: Record<string, SessionMessage[]>,
  since = lastCreated + 1,
) {
  return findInterrupted({
    list: async () => sessions,
    messages: async (id) => messages[id] ?? [],
    since,
    worktree: "/tmp/e2e/project",
  });
}

describe("findInterrupted", () => {
  it("reports a tagged session whose last assistant message never settled", async () => {
    const runs = await scan([session("s1", "T runId=r1 callbackSession=agent:main:main")], { s1: cutOff });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ sessionId: "s1", outcome: "interrupted", agentRan: "build" });
  });

  it("reports a cut-off run whose title the parser refuses but that names a runId (it ends in an integrity error)", async () => {
    const runs = await scan([session("s1", "T RunId=r1 callbackSession=agent:main:main")], { s1: cutOff });
    expect(runs.map((r) => r.sessionId)).toEqual(["s1"]);
  });

  it("ignores settled turns, untagged sessions, and turns begun after the plugin started", async () => {
    expect(
      await scan([session("s1", "T runId=r1 callbackSession=agent:main:main")], { s1: settled }),
    ).toEqual([]);
    expect(await scan([session("s1", "plain")], { s1: cutOff })).toEqual([]);
    const before = (settled.at(-1)?.info.time?.created ?? 0) - 1;
    // With `since` before the unsettled message, that message is this process's own live turn.
    expect(await scan([session("s1", "T runId=r1")], { s1: cutOff }, before)).toEqual([]);
  });

  it("skips sessions not active within maxAgeMs and survives unreadable ones", async () => {
    const old = { id: "s1", title: "T runId=r1", time: { updated: 0 } };
    expect(await scan([old], { s1: cutOff })).toEqual([]);
    const runs = await findInterrupted({
      list: async () => [session("s1", "T runId=r1"), session("s2", "T runId=r2")],
      messages: async (id) => {
        if (id === "s1") throw new Error("unreadable");
        return cutOff;
      },
      since: lastCreated + 1,
      worktree: "/",
    });
    expect(runs.map((r) => r.sessionId)).toEqual(["s2"]);
  });

  it("reads only the last turn of a long session: one window of 4, or what the cut-off turn needs", async () => {
    const long = syntheticSession([
      ...Array.from({ length: 200 }, () => ({})),
      { steps: 1, unsettled: true },
    ]);
    const since = (long.at(-1)?.info.time?.created ?? 0) + 1;
    const reader = limitedReader(long);
    const summary = { id: "s1", title: "T runId=r1", time: { updated: since - 1 } };
    const runs = await findInterrupted({
      list: async () => [summary],
      messages: reader.messages,
      since,
      worktree: "/",
    });
    expect(runs).toMatchObject([{ sessionId: "s1", outcome: "interrupted", summary: answerOf(200) }]);
    expect(reader.limits).toEqual([4]);

    // This process's own turn (after `since`) is skipped: the window reaches back past it.
    const withLive = syntheticSession([
      ...Array.from({ length: 200 }, () => ({})),
      { steps: 4, unsettled: true },
      { steps: 3, unsettled: true },
    ]);
    const cutAt = (withLive.at(-5)?.info.time?.created ?? 0) + 1;
    const again = limitedReader(withLive);
    const live = await findInterrupted({
      list: async () => [{ ...summary, time: { updated: cutAt } }],
      messages: again.messages,
      since: cutAt,
      worktree: "/",
    });
    expect(live).toMatchObject([{ outcome: "interrupted", summary: answerOf(200), tokens: { input: 48 } }]);
    expect(again.limits).toEqual([4, 16]);
  });
});
