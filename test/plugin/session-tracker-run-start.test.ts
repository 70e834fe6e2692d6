import { describe, expect, it } from "vitest";
import { createSessionTracker } from "../../plugin/session-tracker.ts";
import { loadEvents, taggedSessionId } from "../fixtures/load-fixture.ts";

/** The tracker's `onRunStart`: what the run journal is written from. */
function track() {
  const starts: Array<{ sessionId: string; pinnedTitle: string; startedAt: number }> = [];
  let clock = 1_000;
  const tracker = createSessionTracker({
    onTerminal: () => undefined,
    onRunStart: (sessionId, pin, startedAt) =>
      starts.push({ sessionId, pinnedTitle: pin.pinnedTitle, startedAt }),
    now: () => clock++,
  });
  return { tracker, starts };
}

const status = (sessionID: string, type: string) => ({
  type: "session.status",
  properties: { sessionID, status: { type } },
});

describe("session tracker onRunStart", () => {
  it("fires once per turn of a tagged run, at its first busy, never per event", () => {
    const events = loadEvents("completed"); // two prompts: two turns, each with several busy events
    const { tracker, starts } = track();
    for (const event of events) tracker.handle(event);
    const id = taggedSessionId(events);
    expect(starts.map((s) => s.sessionId)).toEqual([id, id]);
    expect(starts[0]?.pinnedTitle).toContain("runId=");
  });

  it("fires once the title is learned for a turn that began unseen, with the turn's start", () => {
    const { tracker, starts } = track();
    tracker.handle(status("ses_x", "busy"));
    tracker.handle(status("ses_x", "busy"));
    expect(starts).toEqual([]);
    tracker.learnTitle("ses_x", "t runId=r1 callbackSession=agent:main:main");
    expect(starts).toEqual([
      { sessionId: "ses_x", pinnedTitle: "t runId=r1 callbackSession=agent:main:main", startedAt: 1_000 },
    ]);
  });

  it("never fires for an untagged session", () => {
    const { tracker, starts } = track();
    tracker.handle({ type: "session.created", properties: { info: { id: "ses_u", title: "plain" } } });
    tracker.handle(status("ses_u", "busy"));
    tracker.handle(status("ses_u", "idle"));
    expect(starts).toEqual([]);
  });
});
