import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createEventHook, type SessionReader } from "../../plugin/create-event-hook.ts";
import type { TrackedEvent } from "../../plugin/session-tracker.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { stampOf } from "../helpers/event-stamp.ts";
import { listingRun } from "../helpers/listing-run.ts";

/**
 * Whatever a tagged session's turns look like (steps, tool calls, files written, a failure, the
 * next prompt at once) and whatever another session does meanwhile, each run settled from the
 * events is the run `buildRun` makes from the session's listing cut at the next prompt, and OpenCode
 * is never asked. Events are emitted in the order OpenCode 1.18.33 publishes them (the recorded
 * fixtures in test/fixtures/opencode-1.18.33/).
 */

const WORKTREE = "/tmp/w";

interface Step {
  text: string | null;
  files: string[];
  tool: boolean;
}
interface Turn {
  steps: Step[];
  fail: "APIError" | "MessageAbortedError" | null;
  /** OpenCode's diff summary of this turn's prompt lands after the next turn began. */
  lateSummary: boolean;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  text: fc.option(fc.string({ minLength: 1, maxLength: 12 }), { nil: null }),
  files: fc.array(fc.constantFrom("a.txt", "b/c.ts", "d.md"), { maxLength: 2 }),
  tool: fc.boolean(),
});
const turnArb: fc.Arbitrary<Turn> = fc.record({
  steps: fc.array(stepArb, { minLength: 1, maxLength: 4 }),
  fail: fc.constantFrom(null, null, "APIError", "MessageAbortedError"),
  lateSummary: fc.boolean(),
});

/**
 * One session's events, pushed to `events` one at a time (a generator: it yields after each, so
 * two sessions can be interleaved on one clock, as OpenCode stamps them), and its listing as the
 * events leave it.
 */
function* session(
  id: string,
  title: (turn: number) => string,
  turns: Turn[],
  clock: { t: number },
  events: TrackedEvent[],
  listing: SessionMessage[],
): Generator<void, void, void> {
  let seq = 0;
  const next = (kind: string) => `${kind}_${id}_${String(++seq).padStart(4, "0")}`;
  const tick = () => ++clock.t;
  const message = (info: Record<string, unknown>) =>
    events.push({ type: "message.updated", properties: { info: structuredClone(info) } });
  const part = (value: Record<string, unknown>) =>
    events.push({ type: "message.part.updated", properties: { part: structuredClone(value) } });
  const status = (type: string) =>
    events.push({ type: "session.status", properties: { sessionID: id, status: { type } } });
  const idle = function* () {
    status("idle");
    yield;
    events.push({ type: "session.idle", properties: { sessionID: id } });
    yield;
  };

  events.push({ type: "session.created", properties: { sessionID: id, info: { id, title: title(0) } } });
  yield;
  /** A previous turn's prompt whose diff summary is still to come (in the next turn). */
  let late: Record<string, unknown> | undefined;
  for (const [k, turn] of turns.entries()) {
    if (k > 0) {
      events.push({ type: "session.updated", properties: { sessionID: id, info: { id, title: title(k) } } });
      yield;
    }
    const user: Record<string, unknown> = {
      id: next("msg"),
      sessionID: id,
      role: "user",
      time: { created: tick() },
    };
    listing.push({ info: user, parts: [] });
    message(user);
    yield;
    status("busy");
    yield;
    const diffs = new Set<string>();
    let failed: { info: Record<string, unknown>; entry: SessionMessage } | undefined;
    for (const [j, step] of turn.steps.entries()) {
      const final = j === turn.steps.length - 1;
      const info: Record<string, unknown> = {
        id: next("msg"),
        sessionID: id,
        role: "assistant",
        parentID: user.id,
        agent: "build",
        providerID: "fake",
        modelID: "m",
        time: { created: tick() },
        tokens: { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } },
        cost: 0,
      };
      const entry: SessionMessage = { info, parts: [] };
      listing.push(entry);
      message(info);
      yield;
      if (late) {
        message(late);
        late = undefined;
        yield;
      }
      const add = (value: Record<string, unknown>) => {
        const full: Record<string, unknown> = {
          id: next("prt"),
          messageID: info.id,
          sessionID: id,
          ...value,
        };
        entry.parts.push(full as SessionMessage["parts"][number]);
        part(full);
        return full;
      };
      add({ type: "step-start" });
      yield;
      const failsHere = final && turn.fail !== null;
      if (step.text !== null) {
        const text = add({ type: "text", text: "", time: { start: tick() } });
        yield;
        // An abort ends its text part only after the idle; otherwise it ends before the step does.
        if (!(failsHere && turn.fail === "MessageAbortedError")) {
          Object.assign(text, { text: step.text, time: { ...(text.time as object), end: tick() } });
          part(text);
          yield;
        }
      }
      if (step.tool) {
        add({ type: "tool", tool: "write", state: { output: "x".repeat(50) } });
        yield;
      }
      if (step.files.length > 0) {
        add({ type: "patch", files: step.files.map((f) => `${WORKTREE}/${f}`) });
        yield;
        for (const f of step.files) diffs.add(f);
      }
      if (failsHere) {
        failed = { info, entry };
        break;
      }
      add({ type: "step-finish" });
      yield;
      Object.assign(info, {
        finish: final ? "stop" : "tool-calls",
        tokens: { input: 12, output: 5, reasoning: 0, cache: { read: 1, write: 0 } },
        cost: 0.5,
      });
      message(info);
      yield;
      (info.time as { completed?: number }).completed = tick();
      message(info);
      yield;
      status("busy");
      yield;
    }
    if (failed) {
      const error =
        turn.fail === "APIError"
          ? { name: "APIError", data: { message: "fake model error 401", statusCode: 401 } }
          : { name: "MessageAbortedError", data: { message: "The operation was aborted." } };
      events.push({ type: "session.error", properties: { sessionID: id, error } });
      yield;
      yield* idle();
      // After the first idle: the aborted text part ends, then the message carries the error.
      const streaming = failed.entry.parts.find((p) => p.type === "text");
      if (streaming && streaming.time?.end === undefined) {
        Object.assign(streaming, { text: "partial", time: { start: streaming.time?.start, end: tick() } });
        part(streaming as Record<string, unknown>);
        yield;
      }
      const created = (failed.info.time as { created: number }).created;
      Object.assign(failed.info, { error, time: { created, completed: tick() } });
      message(failed.info);
      yield;
    }
    yield* idle();
    // OpenCode summarises the turn's diffs onto its prompt after the idle, or later.
    user.summary = { diffs: [...diffs].map((file) => ({ file })) };
    if (turn.lateSummary && k < turns.length - 1) late = user;
    else {
      message(user);
      yield;
    }
  }
}

/** Run two sessions' generators to the end, one event at a time, in the order `picks` says. */
function interleave(a: Generator<void>, b: Generator<void>, picks: boolean[]): void {
  let aDone = false;
  let bDone = false;
  for (const pick of picks) {
    if (pick && !aDone) aDone = a.next().done === true;
    else if (!bDone) bDone = b.next().done === true;
  }
  while (!aDone) aDone = a.next().done === true;
  while (!bDone) bDone = b.next().done === true;
}

describe("settling from the events, any turns", () => {
  it("equals the listing's run for every turn, with no read, beside another session", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(turnArb, { minLength: 1, maxLength: 4 }),
        fc.array(turnArb, { minLength: 0, maxLength: 2 }),
        fc.array(fc.boolean(), { maxLength: 400 }),
        fc.boolean(),
        async (turns, otherTurns, picks, sync) => {
          const clock = { t: 1_000 };
          const events: TrackedEvent[] = [];
          const tagged = { listing: [] as SessionMessage[] };
          interleave(
            session(
              "ses_t",
              (k) => `T runId=run-${k} callbackSession=agent:main:main`,
              turns,
              clock,
              events,
              tagged.listing,
            ),
            session("ses_o", () => "untagged work", otherTurns, clock, events, []),
            picks,
          );
          const submitted: TerminalRun[] = [];
          let reads = 0;
          const reader: SessionReader = {
            title: async () => {
              throw new Error("no title lookups expected");
            },
            messages: async () => {
              reads += 1;
              return tagged.listing;
            },
          };
          let now = 0;
          const hook = createEventHook({
            relay: { submit: (run) => submitted.push(run) },
            audit: { append: async () => undefined },
            reader,
            worktree: WORKTREE,
            graceMs: 5_000,
            now: () => now,
          });
          for (const event of events) {
            now = Math.max(now, stampOf(event));
            if (sync) void hook({ event });
            else await hook({ event });
          }
          await waitFor("every tagged run", () => (submitted.length >= turns.length ? true : undefined));
          expect(reads).toBe(0);
          expect(submitted.map((run) => run.pinnedTitle)).toEqual(
            turns.map((_, k) => `T runId=run-${k} callbackSession=agent:main:main`),
          );
          submitted.forEach((run, k) => {
            expect(run).toEqual(listingRun(run, tagged.listing, k, WORKTREE));
            const fail = turns[k]?.fail;
            expect(run.outcome).toBe(
              fail === null ? "completed" : fail === "APIError" ? "failed" : "aborted",
            );
          });
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});
