import { describe, expect, it } from "vitest";
import { createSessionTracker, type TurnEnd } from "../../plugin/session-tracker.ts";
import { checkIntegrity } from "../../relay/index.ts";
import { loadEvents, type RecordedEvent, type Scenario, taggedSessionId } from "../fixtures/load-fixture.ts";
import { INSTANCE } from "../helpers/relay-fixture.ts";

/** Replays a recorded stream through a fresh tracker; returns what it reported. */
function replay(events: RecordedEvent[], extra: { maxSessions?: number } = {}) {
  const ends: TurnEnd[] = [];
  const unknown: string[] = [];
  let clock = 1_000;
  const tracker = createSessionTracker({
    onTerminal: (end) => ends.push(end),
    onUnknownTitle: (id) => unknown.push(id),
    now: () => clock++,
    ...extra,
  });
  for (const event of events) tracker.handle(event);
  return { ends, unknown, tracker };
}

const isTitleEvent = (event: RecordedEvent) =>
  event.type === "session.created" || event.type === "session.updated";

function withTitle(events: RecordedEvent[], title: string): RecordedEvent[] {
  return events.map((event) =>
    isTitleEvent(event)
      ? {
          ...event,
          properties: { ...event.properties, info: { ...(event.properties.info as object), title } },
        }
      : event,
  );
}

describe("createSessionTracker on recorded OpenCode 1.18.33 streams", () => {
  it("reports one terminal point per turn of a completed session (two prompts, two turns)", () => {
    const events = loadEvents("completed");
    const { ends } = replay(events);
    expect(ends).toHaveLength(2);
    for (const end of ends) {
      expect(end.sessionId).toBe(taggedSessionId(events));
      expect(end.pinnedTitle).toBe(end.currentTitle);
      expect(end.pinnedTitle).toContain("runId=run-completed");
      expect(end.error).toBeUndefined();
      expect(end.endedInRetry).toBe(false);
      expect(end.endedAt).toBeGreaterThan(end.startedAt);
    }
  });

  it.each<Scenario>(["streamed", "write"])("reports one terminal point for the %s scenario", (scenario) => {
    const { ends } = replay(loadEvents(scenario));
    expect(ends).toHaveLength(1);
    expect(ends[0]?.error).toBeUndefined();
  });

  it("reports a provider error once although OpenCode sends two idles", () => {
    const events = loadEvents("error401");
    expect(events.filter((e) => e.type === "session.idle")).toHaveLength(2);
    const { ends } = replay(events);
    expect(ends).toHaveLength(1);
    expect(ends[0]?.error?.name).toBe("APIError");
  });

  it("reports an abort once, carrying MessageAbortedError", () => {
    const { ends } = replay(loadEvents("abort"));
    expect(ends).toHaveLength(1);
    expect(ends[0]?.error?.name).toBe("MessageAbortedError");
  });

  it("marks a turn aborted while waiting to retry (one idle, no error)", () => {
    const events = loadEvents("retry");
    expect(events.some((e) => e.type === "session.error")).toBe(false);
    const { ends } = replay(events);
    expect(ends).toHaveLength(1);
    expect(ends[0]?.endedInRetry).toBe(true);
    expect(ends[0]?.error).toBeUndefined();
  });

  it("reports the parent of a subagent and never the untagged child", () => {
    const events = loadEvents("task");
    const parent = taggedSessionId(events);
    const childIdles = events.filter(
      (e) => e.type === "session.idle" && (e.properties as { sessionID: string }).sessionID !== parent,
    );
    expect(childIdles.length).toBeGreaterThan(0);
    const { ends } = replay(events);
    expect(ends.map((e) => e.sessionId)).toEqual([parent]);
  });

  it("keeps the first title of a run pinned when the title is edited mid-turn", () => {
    const { ends } = replay(loadEvents("retitle"));
    expect(ends).toHaveLength(1);
    expect(ends[0]?.pinnedTitle).toContain("callbackSession=agent:main:main");
    expect(ends[0]?.currentTitle).toContain("callbackSession=agent:main:other");
  });

  it("ignores untagged sessions, and titles with stray tags but no runId", () => {
    for (const title of ["plain work", "T taskId=T-1 callbackSession=agent:main:main", "T runId="]) {
      const { ends, unknown } = replay(withTitle(loadEvents("completed"), title));
      expect(ends).toEqual([]);
      expect(unknown).toEqual([]);
    }
  });

  it("reports once whichever idle kind comes first", () => {
    const events = loadEvents("streamed");
    const statusIdle = events.findIndex(
      (e) => e.type === "session.status" && (e.properties.status as { type: string }).type === "idle",
    );
    const swapped = [...events];
    const [a, b] = [swapped[statusIdle], swapped[statusIdle + 1]];
    expect(b?.type).toBe("session.idle");
    swapped[statusIdle] = b as RecordedEvent;
    swapped[statusIdle + 1] = a as RecordedEvent;
    expect(replay(swapped).ends).toHaveLength(1);
    expect(replay(events.filter((e) => e.type !== "session.idle")).ends).toHaveLength(1);
    expect(replay(events.filter((e) => e.type !== "session.status" || e !== a)).ends).toHaveLength(1);
  });
});

describe("createSessionTracker when the title is not known yet", () => {
  const withoutTitles = () => loadEvents("streamed").filter((e) => !isTitleEvent(e));

  it("asks for the title once and reports the turn when it is learned after the idle", () => {
    const events = withoutTitles();
    const { ends, unknown, tracker } = replay(events);
    const id = taggedSessionId(loadEvents("streamed"));
    expect(unknown).toEqual([id]);
    expect(ends).toEqual([]);
    tracker.learnTitle(id, "late runId=r-late callbackSession=agent:main:main");
    expect(ends).toHaveLength(1);
    expect(ends[0]?.pinnedTitle).toContain("runId=r-late");
  });

  it("reports nothing when the learned title is untagged or the lookup failed", () => {
    const id = taggedSessionId(loadEvents("streamed"));
    const first = replay(withoutTitles());
    first.tracker.learnTitle(id, "untagged");
    expect(first.ends).toEqual([]);
    const second = replay(withoutTitles());
    second.tracker.titleUnavailable(id);
    second.tracker.learnTitle(id, "late runId=r-late callbackSession=agent:main:main");
    expect(second.ends).toEqual([]);
  });

  it("binds the turn to a title that arrives by session.updated during the turn", () => {
    const events = loadEvents("streamed");
    const busy = events.findIndex((e) => e.type === "session.status");
    const noEarlyTitles = [...events.slice(0, busy).filter((e) => !isTitleEvent(e)), ...events.slice(busy)];
    expect(noEarlyTitles.slice(busy).some(isTitleEvent)).toBe(true);
    const { ends, unknown } = replay(noEarlyTitles);
    expect(unknown).toHaveLength(1);
    expect(ends).toHaveLength(1);
    expect(ends[0]?.pinnedTitle).toContain("runId=run-streamed");
  });
});

describe("createSessionTracker runs and memory", () => {
  const sid = "ses_1";
  const title = (run: string, cb = "agent:main:main") => `T runId=${run} callbackSession=${cb}`;
  const ev = {
    title: (t: string) => ({ type: "session.updated", properties: { info: { id: sid, title: t } } }),
    busy: { type: "session.status", properties: { sessionID: sid, status: { type: "busy" } } },
    idle: { type: "session.status", properties: { sessionID: sid, status: { type: "idle" } } },
  };

  it("applies a new runId to the next turn; the turn in progress keeps its run", () => {
    const { ends } = replay([
      ev.title(title("r1")),
      ev.busy,
      ev.title(title("r2")),
      ev.idle,
      ev.busy,
      ev.idle,
    ]);
    expect(ends.map((e) => [e.pinnedTitle, e.currentTitle])).toEqual([
      [title("r1"), title("r1")],
      [title("r2"), title("r2")],
    ]);
  });

  it("keeps a run's pin when the title switches back to an earlier runId", () => {
    const { ends } = replay([
      ev.title(title("r1")),
      ev.title(title("r2")),
      ev.title(title("r1", "agent:main:elsewhere")),
      ev.busy,
      ev.idle,
    ]);
    expect(ends[0]?.pinnedTitle).toBe(title("r1"));
    expect(ends[0]?.currentTitle).toBe(title("r1", "agent:main:elsewhere"));
  });

  it("does not report an idle without a busy (creation, title edits, a second idle)", () => {
    expect(replay([ev.title(title("r1")), ev.idle, ev.idle]).ends).toEqual([]);
  });

  it("forgets the least recently used sessions past maxSessions", () => {
    const events = Array.from({ length: 1_000 }, (_, i) => ({
      type: "session.created",
      properties: { info: { id: `ses_${i}`, title: title(`r${i}`) } },
    }));
    expect(replay(events, { maxSessions: 100 }).tracker.size()).toBe(100);
  });

  it("never throws from handle, even when onTerminal throws or the event is malformed", () => {
    const tracker = createSessionTracker({
      onTerminal: () => {
        throw new Error("boom");
      },
    });
    const original = console.error;
    console.error = () => undefined;
    try {
      for (const event of [ev.title(title("r1")), ev.busy, ev.idle])
        expect(() => tracker.handle(event)).not.toThrow();
      expect(() => tracker.handle({ type: "session.status", properties: null })).not.toThrow();
      expect(() => tracker.handle({ type: "session.updated" })).not.toThrow();
      expect(() => tracker.handle(null as unknown as { type: string })).not.toThrow();
    } finally {
      console.error = original;
    }
  });
});

describe("createSessionTracker run identity", () => {
  const sid = "ses_id";
  const ev = {
    title: (t: string) => ({ type: "session.updated", properties: { info: { id: sid, title: t } } }),
    busy: { type: "session.status", properties: { sessionID: sid, status: { type: "busy" } } },
    idle: { type: "session.status", properties: { sessionID: sid, status: { type: "idle" } } },
  };
  const config = {
    callbackSessionPrefixes: ["agent:main:"],
    integrity: { onAgentMismatch: "report" as const },
  };
  /** What the relay will decide for this terminal point. */
  const verdictOf = (end: TurnEnd | undefined) => {
    if (!end) throw new Error("no terminal point");
    const verdict = checkIntegrity(end, INSTANCE, config);
    return verdict.ok ? "ok" : verdict.error.code;
  };
  const first = "T runId=run-42 callbackSession=agent:main:main";

  it.each([
    ["%-encoded", "T runId=run%2D42 callbackSession=agent:main:evil"],
    ["fullwidth digits", "T runId=run-４２ callbackSession=agent:main:evil"],
    ["lower-case escapes", "T runId=%72un-42 callbackSession=agent:main:evil"],
  ])(
    "keeps a run's pin when its runId is re-spelled (%s) before the turn: INTEGRITY_TAGS_CHANGED",
    (_n, edited) => {
      const { ends } = replay([ev.title(first), ev.title(edited), ev.busy, ev.idle]);
      expect(ends).toHaveLength(1);
      expect(ends[0]?.pinnedTitle).toBe(first);
      expect(ends[0]?.currentTitle).toBe(edited);
      expect(verdictOf(ends[0])).toBe("INTEGRITY_TAGS_CHANGED");
    },
  );

  it("sees a re-spelled runId with a moved callbackSession during the turn: INTEGRITY_TAGS_CHANGED, not silence", () => {
    const edited = "T runId=run%2D42 callbackSession=agent:main:evil";
    const { ends } = replay([ev.title(first), ev.busy, ev.title(edited), ev.idle]);
    expect(ends).toHaveLength(1);
    expect(ends[0]?.currentTitle).toBe(edited);
    expect(verdictOf(ends[0])).toBe("INTEGRITY_TAGS_CHANGED");
  });

  it("sees an edit that makes the title unparsable during the turn: INTEGRITY_TAGS_CHANGED", () => {
    const edited = "T runId=run-42\u200b callbackSession=agent:main:evil";
    const { ends } = replay([ev.title(first), ev.busy, ev.title(edited), ev.idle]);
    expect(verdictOf(ends[0])).toBe("INTEGRITY_TAGS_CHANGED");
  });

  it.each([
    ["a runId key in other case", "T RunId=r1 callbackSession=agent:main:main", "TITLE_CONFUSABLE_KEY"],
    ["a fullwidth runId key", "T ｒｕｎＩｄ=r1 callbackSession=agent:main:main", "TITLE_CONFUSABLE_KEY"],
    ["a zero-width space", "T runId=r1 callbackSession=agent:main:main\u200b", "TITLE_FORMAT_CHARACTER"],
    [
      "a no-break space next to a tag",
      "T\u00a0runId=r1 callbackSession=agent:main:main",
      "TITLE_AMBIGUOUS_SPACE",
    ],
  ])("tracks a refused title with %s, so its run ends in an integrity error", (_n, title, code) => {
    const { ends } = replay([ev.title(title), ev.busy, ev.idle]);
    expect(ends).toHaveLength(1);
    expect(verdictOf(ends[0])).toBe(code);
  });

  it("still ignores human titles that the parser refuses but that name no run", () => {
    for (const title of ["Fix\u200b login", "café=bon", "a\u00a0b=c"]) {
      expect(replay([ev.title(title), ev.busy, ev.idle]).ends).toEqual([]);
    }
  });
});
