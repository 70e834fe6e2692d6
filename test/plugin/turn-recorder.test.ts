import { describe, expect, it } from "vitest";
import { createEventHook, type SessionReader } from "../../plugin/create-event-hook.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import { createTurnRecorder } from "../../plugin/turn-recorder.ts";
import type { AuditInput } from "../../relay/audit/audit-record.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { loadEvents, loadMessages, type RecordedEvent, type Scenario } from "../fixtures/load-fixture.ts";
import { stampOf } from "../helpers/event-stamp.ts";
import { listingRun } from "../helpers/listing-run.ts";

/**
 * Settling from what the events told (turn-recorder.ts), against OpenCode 1.18.33's recorded event
 * streams and the listings of the same sessions (test/fixtures/opencode-1.18.33/).
 */

const WORKTREE = "/tmp/e2e/project";

interface Replay {
  submitted: TerminalRun[];
  audit: AuditInput[];
  reads: () => number;
}

/**
 * Replay a scenario through the real event hook with the stream's own clock. The reader answers
 * with the final listing (and counts its reads); `liveFrom` moves the instant the hook went live.
 * `sync`: hand every event over in one synchronous loop, so each settle starts after the stream
 * ended (the caller prompted again before the plugin got to the first turn).
 */
async function replay(
  scenario: Scenario,
  options: { liveFrom?: number; sync?: boolean; events?: RecordedEvent[] } = {},
): Promise<Replay> {
  const events = options.events ?? loadEvents(scenario);
  const submitted: TerminalRun[] = [];
  const audit: AuditInput[] = [];
  let reads = 0;
  let clock = options.liveFrom ?? 0;
  const reader: SessionReader = {
    title: async () => {
      throw new Error("no title lookups expected");
    },
    messages: async () => {
      reads += 1;
      return loadMessages(scenario) as SessionMessage[];
    },
  };
  const hook = createEventHook({
    relay: { submit: (run) => submitted.push(run) },
    audit: { append: async (input) => void audit.push(input) },
    reader,
    worktree: WORKTREE,
    graceMs: 5_000,
    now: () => clock,
  });
  // Every scenario is one tagged turn but `completed`, which prompts twice.
  const runs = scenario === "completed" ? 2 : 1;
  for (const event of events) {
    clock = Math.max(clock, stampOf(event));
    if (options.sync) void hook({ event: event as never });
    else await hook({ event: event as never });
  }
  await waitFor(`runs of ${scenario}`, () => (submitted.length >= runs ? true : undefined));
  return { submitted, audit, reads: () => reads };
}

/** The listing's run for turn `turnIndex` of a scenario (test/helpers/listing-run.ts). */
function fromListing(
  scenario: Scenario,
  run: TerminalRun,
  turnIndex: number,
  settledFrom: "events" | "read" = "events",
): TerminalRun {
  return listingRun(run, loadMessages(scenario) as SessionMessage[], turnIndex, WORKTREE, settledFrom);
}

const SCENARIOS: Array<[Scenario, TerminalRun["outcome"]]> = [
  ["completed", "completed"],
  ["streamed", "completed"],
  ["write", "completed"],
  ["task", "completed"],
  ["retitle", "completed"],
  ["error401", "failed"],
  ["abort", "aborted"],
  ["retry", "aborted"],
];

describe("settling from the events", () => {
  it.each(SCENARIOS)(
    "%s: the run equals the listing's, and OpenCode is never asked",
    async (scenario, outcome) => {
      const r = await replay(scenario);
      expect(r.reads()).toBe(0);
      expect(r.audit).toEqual([]);
      expect(r.submitted.length).toBeGreaterThan(0);
      const tagged = r.submitted.filter((run) => run.sessionId === r.submitted[0]?.sessionId);
      tagged.forEach((run, i) => {
        expect(run.outcome).toBe(outcome);
        expect(run).toEqual(fromListing(scenario, run, i));
      });
    },
  );

  it("reports what the turn produced: the answer, the files it wrote, its tokens and model", async () => {
    const r = await replay("write");
    expect(r.submitted[0]).toMatchObject({
      outcome: "completed",
      filesChanged: expect.arrayContaining([expect.any(String)]),
      model: "fake/fake-model",
      agentRan: "build",
    });
    expect(r.submitted[0]?.filesChanged.length).toBeGreaterThan(0);
    expect(r.submitted[0]?.tokens?.input).toBeGreaterThan(0);
  });

  it("a failed turn waits for the error OpenCode writes after the idle, from the events alone", async () => {
    const r = await replay("error401");
    expect(r.reads()).toBe(0);
    expect(r.submitted).toHaveLength(1);
    expect(r.submitted[0]?.error?.name).toBe("APIError");
  });

  it("the caller prompting again at once does not move the first turn's report to the second", async () => {
    // The second turn answers differently; every event is handed over before the first settle runs.
    const events = loadEvents("completed").map((e) => {
      const part = e.properties.part as { text?: string; messageID?: string } | undefined;
      const second = part?.text === "Done." && part.messageID?.endsWith("0CtxEW");
      return second ? { ...e, properties: { part: { ...part, text: "Second." } } } : e;
    });
    const r = await replay("completed", { sync: true, events });
    expect(r.reads()).toBe(0);
    expect(r.submitted.map((run) => run.summary)).toEqual(["Done.", "Second."]);
  });

  it("submits a turn settled in its events on the terminal idle's own stack, one still settling off it", async () => {
    // In OpenCode a microtask queued from the hook runs 2–3 ms later, behind OpenCode's own promise
    // callbacks: a completed turn's run is handed to the relay before the hook returns.
    const onStack = (scenario: Scenario) => {
      const submitted: TerminalRun[] = [];
      let clock = 0;
      const hook = createEventHook({
        relay: { submit: (run) => submitted.push(run) },
        audit: { append: async () => undefined },
        reader: {
          title: async () => "unused",
          messages: async () => loadMessages(scenario) as SessionMessage[],
        },
        worktree: WORKTREE,
        graceMs: 5_000,
        now: () => clock,
      });
      const events = loadEvents(scenario);
      for (const [index, event] of events.entries()) {
        clock = Math.max(clock, stampOf(event));
        void hook({ event: event as never });
        if (submitted.length > 0) return { event, index, submitted, held: hook.heldMessages() };
      }
      return { event: undefined, index: -1, submitted, held: hook.heldMessages() };
    };
    for (const scenario of ["completed", "streamed", "write", "task"] as const) {
      const { event, submitted, held } = onStack(scenario);
      expect(event, scenario).toMatchObject({
        type: "session.status",
        properties: { status: { type: "idle" } },
      });
      expect(submitted[0]).toMatchObject({ outcome: "completed", settledFrom: "events" });
      // Settled: the turn's messages are not kept (one turn per session in progress, at most).
      expect(held, scenario).toBe(0);
    }
    // A failed turn's first idle comes before the error is on its message: settled off the stack.
    const failed = onStack("error401");
    expect(failed.submitted).toEqual([]);
  });

  it("reads instead when the hook went live after the turn's prompt was created", async () => {
    const events = loadEvents("streamed");
    const prompt = events.find(
      (e) => e.type === "message.updated" && (e.properties.info as { role?: string }).role === "user",
    );
    const created = (prompt?.properties.info as { time: { created: number } } | undefined)?.time.created ?? 0;
    expect(created).toBeGreaterThan(0);
    // The hook missed the prompt's creation (it went live 1 ms later): only later updates reached it.
    const r = await replay("streamed", { liveFrom: created + 1, events: events.filter((e) => e !== prompt) });
    expect(r.reads()).toBeGreaterThan(0);
    expect(r.submitted[0]?.settledFrom).toBe("read");
    expect(r.submitted[0]).toEqual(fromListing("streamed", r.submitted[0] as TerminalRun, 0, "read"));
  });
});

describe("createTurnRecorder", () => {
  const user = (id: string, created: number) => ({
    type: "message.updated",
    properties: { info: { id, sessionID: "s", role: "user", time: { created } } },
  });
  const assistant = (id: string, parentID: string, created: number, text: string) => [
    {
      type: "message.updated",
      properties: {
        info: { id, sessionID: "s", role: "assistant", parentID, time: { created, completed: created + 1 } },
      },
    },
    {
      type: "message.part.updated",
      properties: { part: { id: `${id}-p`, messageID: id, sessionID: "s", type: "text", text } },
    },
    {
      type: "message.part.updated",
      properties: {
        part: {
          id: `${id}-t`,
          messageID: id,
          sessionID: "s",
          type: "tool",
          state: { output: "x".repeat(1e5) },
        },
      },
    },
  ];

  it("holds one turn at a time, never tool output, and nothing once the run is settled", () => {
    const recorder = createTurnRecorder({ follows: () => true, now: () => 0 });
    for (const event of [user("u1", 10), ...assistant("a1", "u1", 11, "one")]) recorder.handle(event);
    // Nothing is trusted before the hook is live: it may have missed the prompt's creation.
    expect(recorder.view("s", 20)).toBeUndefined();
    recorder.markLive();
    expect(recorder.view("s", 20)?.map((m) => m.parts.map((p) => p.type))).toEqual([[], ["text"]]);
    const release = recorder.hold("s");
    // The next prompt while the first run settles: both are kept, the view at the first end is the first turn.
    for (const event of [user("u2", 30), ...assistant("a2", "u2", 31, "two")]) recorder.handle(event);
    expect(recorder.view("s", 20)?.map((m) => m.info.id)).toEqual(["u1", "a1", "u2", "a2"]);
    release();
    expect(recorder.view("s", 40)?.map((m) => m.info.id)).toEqual(["u2", "a2"]);
    recorder.hold("s")();
    expect(recorder.view("s", 40)).toBeUndefined();
    // OpenCode updates the settled prompt after the idle: that starts no recording of a turn now gone.
    recorder.handle(user("u2", 30));
    expect(recorder.view("s", 40)).toBeUndefined();
  });

  it("does not trust a settled message whose text part never ended: the listing is read instead", () => {
    const recorder = createTurnRecorder({ follows: () => true, now: () => 0 });
    recorder.markLive();
    for (const event of [user("u1", 10), ...assistant("a1", "u1", 11, "one")]) recorder.handle(event);
    const streaming = {
      id: "a1-q",
      messageID: "a1",
      sessionID: "s",
      type: "text",
      text: "",
      time: { start: 12 },
    };
    recorder.handle({ type: "message.part.updated", properties: { part: streaming } });
    expect(recorder.view("s", 20)).toBeUndefined();
    recorder.handle({
      type: "message.part.updated",
      properties: { part: { ...streaming, text: "two", time: { start: 12, end: 13 } } },
    });
    expect(recorder.view("s", 20)?.[1]?.parts.map((p) => p.text)).toEqual(["one", "two"]);
  });

  it("forgets sessions that are not followed, and the turn that began longest ago beyond its bound", () => {
    let followed = true;
    const recorder = createTurnRecorder({ follows: () => followed, now: () => 0, maxSessions: 2 });
    recorder.handle(user("u1", 10));
    followed = false;
    // Retitled untagged: its next prompt starts nothing, and what was recorded goes.
    recorder.handle(user("u2", 20));
    expect(recorder.size()).toBe(0);
    followed = true;
    for (const s of ["a", "b", "c"]) {
      recorder.handle({
        type: "message.updated",
        properties: { info: { id: `u-${s}`, sessionID: s, role: "user" } },
      });
    }
    expect(recorder.size()).toBe(2);
  });

  it("never throws, whatever it is given", () => {
    const recorder = createTurnRecorder({ follows: () => true });
    for (const bad of [
      { type: "message.updated", properties: null },
      { type: "message.updated", properties: { info: 7 } },
      { type: "message.part.updated", properties: { part: { id: 1 } } },
      { type: "message.removed", properties: {} },
      { type: "message.part.removed", properties: { sessionID: "s", messageID: "m" } },
      null,
    ]) {
      expect(() => recorder.handle(bad as never)).not.toThrow();
    }
  });
});
