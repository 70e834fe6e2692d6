import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reconcileJournal } from "../../plugin/reconcile-journal.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import { type AuditLog, openAuditLog } from "../../relay/audit/audit-log.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";
import { currentOwner } from "../../relay/state/process-owner.ts";
import { openRunJournal } from "../../relay/state/run-journal.ts";
import { loadMessages } from "../fixtures/load-fixture.ts";
import { journalEntry } from "../helpers/journal-entry.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";

let dir: string;
let audit: AuditLog;
let submitted: TerminalRun[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-reconcile-"));
  audit = openAuditLog({ path: join(dir, "audit.jsonl") });
  submitted = [];
});
afterEach(async () => {
  await audit.flush();
  await rm(dir, { recursive: true, force: true });
});

const stored = loadMessages("error401") as unknown as SessionMessage[];
const STARTED = (stored[0]?.info.time?.created ?? 0) + 5;
const dead = () => ({ ...currentOwner(), startTime: "1" });

function reconcile(
  stateDirs: string[],
  over: {
    maxAgeMs?: number;
    messages?: (sessionId: string, limit?: number) => Promise<SessionMessage[]>;
    failedBefore?: Set<string>;
  } = {},
) {
  return reconcileJournal({
    stateDirs,
    directory: "/srv/proj",
    worktree: "/srv/proj",
    reader: { messages: over.messages ?? (async () => stored), title: async () => "current title" },
    relay: { submit: (run) => submitted.push(run) },
    audit,
    maxAgeMs: over.maxAgeMs ?? Number.MAX_SAFE_INTEGER,
    now: () => STARTED + 60_000,
    ...(over.failedBefore === undefined ? {} : { failedBefore: over.failedBefore }),
  });
}
const records = async () => {
  await audit.flush();
  return readAuditRecords(join(dir, "audit.jsonl"));
};

describe("reconcileJournal", () => {
  it("submits a run whose owner died once, with the outcome OpenCode stored, and says so in the audit", async () => {
    const state = join(dir, "state");
    await openRunJournal(state).record(journalEntry("ses_1", "run-1", { owner: dead(), startedAt: STARTED }));
    const report = await reconcile([state]);
    expect(report.submitted).toHaveLength(1);
    expect(submitted).toMatchObject([
      { sessionId: "ses_1", outcome: "failed", currentTitle: "current title" },
    ]);
    expect(await records()).toMatchObject([
      {
        phase: "reconciled",
        sessionId: "ses_1",
        runId: "run-1",
        dedupeKey: "ses_1|run-1",
        outcome: "failed",
      },
    ]);
  });

  it("never touches a run whose owner is alive (a second OpenCode process on the same data)", async () => {
    const state = join(dir, "state");
    await openRunJournal(state).record(journalEntry("ses_live", "run-1", { startedAt: STARTED }));
    const report = await reconcile([state]);
    expect(report.ownerAlive).toHaveLength(1);
    expect(submitted).toEqual([]);
    expect(await records()).toEqual([]);
  });

  it("gives up on a run older than maxAgeMs with DELIVERY_EXPIRED and retires it", async () => {
    const state = join(dir, "state");
    await openRunJournal(state).record(
      journalEntry("ses_old", "run-1", { owner: dead(), startedAt: STARTED }),
    );
    const report = await reconcile([state], { maxAgeMs: 30_000 });
    expect(report.expired).toHaveLength(1);
    expect(submitted).toEqual([]);
    expect(await records()).toMatchObject([
      { phase: "failed", code: "DELIVERY_EXPIRED", sessionId: "ses_old" },
    ]);
    expect((await openRunJournal(state).list()).entries).toEqual([]);
  });

  it("reconciles held runs from the default state dir too, each run once across both dirs", async () => {
    const configured = join(dir, "configured");
    const fallback = join(dir, "default");
    const held = { owner: dead(), startedAt: STARTED, heldCode: "CONFIG_ENV_MISSING" };
    await openRunJournal(fallback).record(journalEntry("ses_held", "run-1", held));
    await openRunJournal(fallback).record(journalEntry("ses_both", "run-1", held));
    await openRunJournal(configured).record(
      journalEntry("ses_both", "run-1", { owner: dead(), startedAt: STARTED }),
    );
    await reconcile([configured, fallback]);
    expect(submitted.map((r) => r.sessionId).sort()).toEqual(["ses_both", "ses_held"]);
    expect((await records()).find((r) => r.sessionId === "ses_held")).toMatchObject({
      phase: "reconciled",
      heldCode: "CONFIG_ENV_MISSING",
    });
  });

  it("skips a torn entry with a JOURNAL_ENTRY_UNREADABLE record, sets it aside, and goes on", async () => {
    const state = join(dir, "state");
    const journal = openRunJournal(state);
    await journal.record(journalEntry("ses_1", "run-1", { owner: dead(), startedAt: STARTED }));
    const torn = join(journal.dir, `${"a".repeat(64)}.json`);
    await writeFile(torn, '{"v":1,"sessionId":"ses_2","ru');
    const report = await reconcile([state]);
    expect(report.unreadable).toEqual([torn]);
    expect(submitted).toHaveLength(1);
    expect((await records()).find((r) => r.phase === "state_error")).toMatchObject({
      code: "JOURNAL_ENTRY_UNREADABLE",
      file: torn,
    });
    expect(await readdir(journal.dir)).toContain(`${"a".repeat(64)}.json.unreadable`);
    // Reported once: the next start does not see it again.
    expect((await reconcile([state])).unreadable).toEqual([]);
  });

  it("keeps the entry, with a SETTLE_FETCH_FAILED record, when the stored messages cannot be read", async () => {
    const state = join(dir, "state");
    await openRunJournal(state).record(journalEntry("ses_1", "run-1", { owner: dead(), startedAt: STARTED }));
    await reconcile([state], {
      messages: async () => {
        throw new Error("connection refused");
      },
    });
    expect(submitted).toEqual([]);
    expect(await records()).toMatchObject([{ phase: "state_error", code: "SETTLE_FETCH_FAILED" }]);
    expect((await openRunJournal(state).list()).entries).toHaveLength(1);
  });

  it("reads only the newest few messages of the session, not its whole history", async () => {
    const state = join(dir, "state");
    await openRunJournal(state).record(journalEntry("ses_1", "run-1", { owner: dead(), startedAt: STARTED }));
    const limits: Array<number | undefined> = [];
    await reconcile([state], {
      messages: async (_id, limit) => {
        limits.push(limit);
        return limit === undefined ? stored : stored.slice(-limit);
      },
    });
    expect(limits[0]).toBe(4);
    expect(limits.every((limit) => limit !== undefined)).toBe(true);
    expect(submitted).toHaveLength(1);
  });

  it("records a fetch that keeps failing once per process, however often it is retried, and again after it was read", async () => {
    const state = join(dir, "state");
    await openRunJournal(state).record(journalEntry("ses_1", "run-1", { owner: dead(), startedAt: STARTED }));
    const failedBefore = new Set<string>();
    let failing = true;
    const messages = async () => {
      if (failing) throw new Error("connection refused");
      return stored;
    };
    for (let i = 0; i < 3; i++) await reconcile([state], { messages, failedBefore });
    expect((await records()).map((r) => r.code)).toEqual(["SETTLE_FETCH_FAILED"]);
    failing = false;
    await reconcile([state], { messages, failedBefore });
    expect(submitted).toHaveLength(1);
    expect(failedBefore.size).toBe(0);
  });
});
