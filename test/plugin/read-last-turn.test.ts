import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { holdsLastTurn, readLastTurn, readTurnStartedAt } from "../../plugin/read-last-turn.ts";
import type { TurnEnd } from "../../plugin/session-tracker.ts";
import { settleJournalled } from "../../plugin/settle-journalled.ts";
import { buildRun, type SessionMessage, settleRun } from "../../plugin/settle-run.ts";
import { loadMessages, type Scenario } from "../fixtures/load-fixture.ts";
import { journalEntry } from "../helpers/journal-entry.ts";
import {
  answerOf,
  limitedReader,
  type SyntheticTurn,
  syntheticSession,
} from "../helpers/synthetic-session.ts";

const WORKTREE = "/tmp/e2e/project";

const endAt = (endedAt: number): TurnEnd => ({
  sessionId: "s1",
  pinnedTitle: "T runId=r1 callbackSession=agent:main:main",
  currentTitle: "T runId=r1 callbackSession=agent:main:main",
  startedAt: 0,
  endedAt,
  endedInRetry: false,
});

const createdOf = (m: SessionMessage | undefined) => m?.info.time?.created ?? 0;
const plain = (count: number): SyntheticTurn[] => Array.from({ length: count }, () => ({}));

describe("readLastTurn", () => {
  it("reads only the newest 4 messages of a plain turn, however long the session", async () => {
    for (const turns of [1, 2, 200]) {
      const all = syntheticSession(plain(turns));
      const reader = limitedReader(all);
      const window = await readLastTurn(reader, "s1");
      expect(reader.limits).toEqual([4]);
      expect(window.length).toBeLessThanOrEqual(4);
      const run = buildRun(endAt(createdOf(all.at(-1)) + 10), window, WORKTREE);
      expect(run.summary).toBe(answerOf(turns - 1));
      expect(run.tokens).toEqual({ input: 12, output: 5, reasoning: 0, cacheRead: 0, cacheWrite: 0 });
    }
  });

  it("grows the window until the start of a many-step turn is in it, and sums every step", async () => {
    const all = syntheticSession([...plain(100), { steps: 20 }]);
    const reader = limitedReader(all);
    const window = await readLastTurn(reader, "s1");
    expect(reader.limits).toEqual([4, 16, 64]);
    const run = buildRun(endAt(createdOf(all.at(-1)) + 10), window, WORKTREE);
    expect(run.tokens).toMatchObject({ input: 20 * 12, output: 20 * 5 });
    expect(run.cost).toBe(20 * 0.5);
    expect(run.summary).toBe(answerOf(100));
  });

  it("reaches back past a turn the caller started after the idle", async () => {
    const all = syntheticSession([...plain(50), { steps: 3 }, { steps: 1, unsettled: true }]);
    // The terminal point is turn 50's end; turn 51 (2 messages, still streaming) began after it.
    const endedAt = createdOf(all.at(-3)) + 5;
    const reader = limitedReader(all);
    const window = await readLastTurn(reader, "s1", { endedAt });
    expect(reader.limits).toEqual([4, 16]);
    const run = buildRun(endAt(endedAt), window, WORKTREE);
    expect(run).toEqual(buildRun(endAt(endedAt), all, WORKTREE));
    expect(run.summary).toBe(answerOf(50));
    expect(run.tokens).toMatchObject({ input: 36, output: 15 });
  });

  it("stops at the session's start: short, empty, unanswered, and a reader that ignores the limit", async () => {
    for (const all of [[], syntheticSession([{ steps: 0 }]), syntheticSession([{ steps: 3 }])]) {
      const reader = limitedReader(all);
      expect(await readLastTurn(reader, "s1")).toEqual(all);
      expect(reader.limits.length).toBeLessThanOrEqual(2);
    }
    // No user message anywhere: grows until the listing is shorter than asked, then stops.
    const orphans = syntheticSession(plain(30)).filter((m) => m.info.role === "assistant");
    const reader = limitedReader(orphans);
    expect(await readLastTurn(reader, "s1")).toEqual(orphans);
    expect(reader.limits).toEqual([4, 16, 64]);
    const everything = syntheticSession(plain(10));
    const deaf = { messages: async () => everything };
    expect(await readLastTurn(deaf, "s1")).toEqual(everything);
  });

  it("passes the reader's failure on", async () => {
    const failing = {
      messages: async () => {
        throw Object.assign(new Error("down"), { code: "SETTLE_FETCH_FAILED" });
      },
    };
    await expect(readLastTurn(failing, "s1")).rejects.toMatchObject({ code: "SETTLE_FETCH_FAILED" });
  });

  it("gives buildRun the same run as the whole history, for any session and any terminal point", async () => {
    const turn = fc.record({ steps: fc.integer({ min: 0, max: 30 }), unsettled: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(
        fc.array(turn, { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.constantFrom(1, 2, 4),
        async (turns, pick, firstLimit) => {
          const all = syntheticSession(turns);
          fc.pre(all.length > 0);
          const endedAt = createdOf(all[pick % all.length]) + (pick % 3) - 1;
          const reader = limitedReader(all);
          const window = await readLastTurn(reader, "s1", { endedAt, firstLimit });
          expect(buildRun(endAt(endedAt), window, WORKTREE)).toEqual(buildRun(endAt(endedAt), all, WORKTREE));
          expect(holdsLastTurn(window, endedAt) || window.length === all.length).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("settleRun through readLastTurn on recorded turns after a long history", () => {
  const scenarios: Scenario[] = ["completed", "streamed", "error401", "abort", "task", "write", "retry"];
  for (const scenario of scenarios) {
    it(`${scenario}: the same run as from the whole history, from a bounded read`, async () => {
      const recorded = loadMessages(scenario) as SessionMessage[];
      // 100 earlier turns, older than the recording, then the recorded turn last.
      const history = syntheticSession(plain(100), createdOf(recorded[0]) - 10_000);
      const all = [...history, ...recorded];
      const end = endAt(Math.max(...recorded.map(createdOf)) + 1);
      const reader = limitedReader(all);
      const settle = (fetchMessages: (id: string) => Promise<SessionMessage[]>) =>
        settleRun({ end, fetchMessages, waitForChange: async () => {}, worktree: WORKTREE, graceMs: 0 });
      const windowed = await settle((id) => readLastTurn(reader, id, { endedAt: end.endedAt }));
      const whole = await settle(async () => all);
      expect(windowed).toEqual(whole);
      expect(reader.limits.every((limit) => (limit ?? Number.POSITIVE_INFINITY) <= 16)).toBe(true);
    });
  }
});

describe("readTurnStartedAt (reconciling a journalled run)", () => {
  it("reads back only to the journalled turn, however many turns followed it, and settles it as the whole history does", async () => {
    const all = syntheticSession([...plain(150), { steps: 3 }, ...plain(10)]);
    const userIndexes = all.flatMap((m, i) => (m.info.role === "user" ? [i] : []));
    const turnStart = userIndexes[150] as number; // the 3-step turn
    const startedAt = createdOf(all[turnStart]) + 1;
    const reader = limitedReader(all);
    const window = await readTurnStartedAt(reader, "s1", startedAt);
    expect(reader.limits).toEqual([4, 16, 64]);
    expect(window.length).toBeLessThan(all.length);
    const entry = journalEntry("s1", "r1", { startedAt });
    const fromWindow = settleJournalled(entry, window, "t", WORKTREE, startedAt + 60_000);
    const fromAll = settleJournalled(entry, all, "t", WORKTREE, startedAt + 60_000);
    expect(fromWindow).toEqual(fromAll);
    expect(fromWindow.tokens).toMatchObject({ input: 3 * 12, output: 3 * 5 });
  });

  it("reads a fresh session's last turn in one small read", async () => {
    const all = syntheticSession(plain(1));
    const reader = limitedReader(all);
    await readTurnStartedAt(reader, "s1", createdOf(all[0]) + 1);
    expect(reader.limits).toEqual([4]);
  });
});
