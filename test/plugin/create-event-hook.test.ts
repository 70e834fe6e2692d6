import { describe, expect, it } from "vitest";
import { createEventHook, type SessionReader } from "../../plugin/create-event-hook.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import type { AuditInput } from "../../relay/audit/audit-record.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { loadEvents, loadMessages, type Scenario } from "../fixtures/load-fixture.ts";
import { limitedReader, syntheticSession } from "../helpers/synthetic-session.ts";

/** A reader standing in for OpenCode's client: the session's messages as they are at each read. */
function world(scenario: Scenario, reads: (n: number) => SessionMessage[] | Error, graceMs = 300) {
  const submitted: TerminalRun[] = [];
  const audit: AuditInput[] = [];
  let n = 0;
  const reader: SessionReader = {
    title: async () => "unused",
    messages: async () => {
      const answer = reads(n++);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  const hook = createEventHook({
    relay: { submit: (run) => submitted.push(run) },
    audit: { append: async (input) => void audit.push(input) },
    reader,
    worktree: "/tmp/e2e/project",
    graceMs,
  });
  return { hook, submitted, audit, reads: () => n, events: loadEvents(scenario) };
}

const until = (what: string, check: () => boolean) => waitFor(what, () => (check() ? true : undefined));

/** The error401 messages as they are at the first idle: the error not written yet. */
const unsettled401 = () =>
  (loadMessages("error401") as SessionMessage[]).map((m) => {
    const { error: _error, time, ...info } = m.info;
    return { ...m, info: { ...info, time: { created: time?.created ?? 0 } } };
  });

describe("createEventHook", () => {
  it("submits one failed run for a 401 turn, re-reading once the error lands on the message", async () => {
    const w = world("error401", (n) =>
      n === 0 ? unsettled401() : (loadMessages("error401") as SessionMessage[]),
    );
    const idle = w.events.findIndex((e) => e.type === "session.idle");
    // Events up to the first idle, then a pause (the settle's first read), then the rest.
    for (const event of w.events.slice(0, idle + 1)) await w.hook({ event });
    await until("the settle's first read", () => w.reads() >= 1);
    for (const event of w.events.slice(idle + 1)) await w.hook({ event });
    await until("the run to be submitted", () => w.submitted.length >= 1);
    // Every event has been handed over, and the reader answers at once: whatever those events
    // started (a settle woken by them, a second settle) runs in promise callbacks, all done by the
    // next turn of the event loop. Then: two reads, both of the one settle, and one run.
    await new Promise((resolve) => setImmediate(resolve));
    expect(w.reads()).toBe(2);
    expect(w.submitted).toHaveLength(1);
    expect(w.submitted[0]).toMatchObject({ outcome: "failed", agentRan: "build", model: "fake/fake-model" });
  });

  it("submits what the events told and audits SETTLE_FETCH_FAILED when the messages cannot be read", async () => {
    const w = world("abort", () => new Error("connection refused"));
    for (const event of w.events) await w.hook({ event });
    await until("the run to be submitted", () => w.submitted.length >= 1);
    expect(w.submitted[0]).toMatchObject({ outcome: "aborted", summary: "", filesChanged: [] });
    expect(w.audit).toMatchObject([
      { phase: "state_error", code: "SETTLE_FETCH_FAILED", runId: "run-abort" },
    ]);
  });

  it("reads nothing but the type of an irrelevant event, even while a run settles", async () => {
    // A settle in progress (the 401 turn up to its first idle, its error not written yet): the
    // hook then also looks at events to wake the settle, but never at an irrelevant one.
    const w = world("error401", (n) =>
      n === 0 ? unsettled401() : (loadMessages("error401") as SessionMessage[]),
    );
    const idle = w.events.findIndex((e) => e.type === "session.idle");
    for (const event of w.events.slice(0, idle + 1)) await w.hook({ event });
    await until("the settle's first read", () => w.reads() >= 1);

    const keysRead: string[] = [];
    const watched = <T extends object>(event: T): T =>
      new Proxy(event, {
        get(target, key, receiver) {
          keysRead.push(String(key));
          return Reflect.get(target, key, receiver);
        },
      });
    const deltas = loadEvents("streamed").filter((e) => e.type === "message.part.delta");
    expect(deltas.length).toBeGreaterThan(0);
    for (const event of deltas) await w.hook({ event: watched(event) });
    expect(new Set(keysRead)).toEqual(new Set(["type"]));

    for (const event of w.events.slice(idle + 1)) await w.hook({ event });
    await until("the run to be submitted", () => w.submitted.length >= 1);
  });

  it("never throws and starts nothing for irrelevant or malformed events, whatever it is given", async () => {
    const w = world("streamed", () => loadMessages("streamed") as SessionMessage[]);
    const deltas = w.events.filter((e) => e.type === "message.part.delta");
    expect(deltas.length).toBeGreaterThan(0);
    for (const event of deltas) await w.hook({ event });
    for (const bad of [null, undefined, {}, { type: 42 }, { type: "session.status", properties: 7 }]) {
      await expect(w.hook({ event: bad as never })).resolves.toBeUndefined();
    }
    expect(w.reads()).toBe(0);
    expect(w.submitted).toEqual([]);
  });

  it("settles a turn after a long history from a bounded read: the turn's own tokens and answer", async () => {
    const recorded = loadMessages("task") as SessionMessage[];
    const first = recorded[0]?.info.time?.created ?? 0;
    const all = [
      ...syntheticSession(
        Array.from({ length: 300 }, () => ({})),
        first - 100_000,
      ),
      ...recorded,
    ];
    const limited = limitedReader(all);
    const submitted: TerminalRun[] = [];
    const hook = createEventHook({
      relay: { submit: (run) => submitted.push(run) },
      audit: { append: async () => {} },
      reader: { title: async () => "unused", messages: limited.messages },
      worktree: "/tmp/e2e/project",
      graceMs: 300,
    });
    for (const event of loadEvents("task")) await hook({ event });
    await until("the run to be submitted", () => submitted.length === 1);
    expect(submitted[0]).toMatchObject({
      outcome: "completed",
      summary: "Done.",
      tokens: { input: 24, output: 10 },
    });
    expect(limited.limits).toEqual([4]);
  });
});
