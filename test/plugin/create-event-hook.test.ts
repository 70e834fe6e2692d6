import { describe, expect, it } from "vitest";
import { createEventHook, type SessionReader } from "../../plugin/create-event-hook.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import type { AuditInput } from "../../relay/audit/audit-record.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";
import { loadEvents, loadMessages, type Scenario } from "../fixtures/load-fixture.ts";

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

const until = async (check: () => boolean, timeoutMs = 2_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

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
    await until(() => w.reads() === 1);
    for (const event of w.events.slice(idle + 1)) await w.hook({ event });
    await until(() => w.submitted.length === 1);
    expect(w.reads()).toBe(2);
    expect(w.submitted[0]).toMatchObject({ outcome: "failed", agentRan: "build", model: "fake/fake-model" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(w.submitted).toHaveLength(1);
  });

  it("submits what the events told and audits SETTLE_FETCH_FAILED when the messages cannot be read", async () => {
    const w = world("abort", () => new Error("connection refused"));
    for (const event of w.events) await w.hook({ event });
    await until(() => w.submitted.length === 1);
    expect(w.submitted[0]).toMatchObject({ outcome: "aborted", summary: "", filesChanged: [] });
    expect(w.audit).toMatchObject([
      { phase: "state_error", code: "SETTLE_FETCH_FAILED", runId: "run-abort" },
    ]);
  });

  it("returns at once for irrelevant events and never throws, whatever it is given", async () => {
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
});
