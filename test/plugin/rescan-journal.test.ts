import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ReconcileReport, reconcileJournal } from "../../plugin/reconcile-journal.ts";
import { JOURNAL_RESCAN_MS, rescanJournal } from "../../plugin/rescan-journal.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";
import { type AuditLog, openAuditLog } from "../../relay/audit/audit-log.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";
import { currentOwner, type ProcessOwner, pidExists } from "../../relay/state/process-owner.ts";
import { openRunJournal } from "../../relay/state/run-journal.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { loadMessages } from "../fixtures/load-fixture.ts";
import { journalEntry } from "../helpers/journal-entry.ts";

let dir: string;
let audit: AuditLog;
let owner: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-rescan-"));
  audit = openAuditLog({ path: join(dir, "audit.jsonl") });
});
afterEach(async () => {
  if (owner?.pid !== undefined && owner.exitCode === null && owner.signalCode === null) owner.kill("SIGKILL");
  await audit.flush();
  await rm(dir, { recursive: true, force: true });
});

const stored = loadMessages("error401") as unknown as SessionMessage[];
const STARTED = (stored[0]?.info.time?.created ?? 0) + 5;

/** Another live process on this host (standing in for a second OpenCode), as a journal owner. */
function liveOwner(child: ChildProcess): ProcessOwner {
  const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
  const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  return { ...currentOwner(), pid: child.pid ?? -1, startTime };
}

/** A schedule driven by hand: `tick()` runs the armed callback and waits for the next to be armed. */
function manualSchedule() {
  let armed: { fn: () => void; delayMs: number } | undefined;
  return {
    schedule: (fn: () => void, delayMs: number) => {
      armed = { fn, delayMs };
      return () => {
        armed = undefined;
      };
    },
    armedDelay: () => armed?.delayMs,
    async tick() {
      const current = armed;
      if (current === undefined) throw new Error("nothing armed");
      armed = undefined;
      current.fn();
      await waitFor("the next rescan to be armed", () => (armed === undefined ? undefined : true));
    },
  };
}

describe("rescanJournal", () => {
  it("takes over a run left to a live owner once that owner dies, once, without a restart", async () => {
    owner = spawn(process.execPath, ["-e", "setInterval(() => {}, 60_000)"], { stdio: "ignore" });
    await waitFor("the owner process", () => (owner?.pid !== undefined ? true : undefined));
    const state = join(dir, "state");
    await openRunJournal(state).record(
      journalEntry("ses_1", "run-1", { owner: liveOwner(owner), startedAt: STARTED }),
    );
    const submitted: TerminalRun[] = [];
    const reports: ReconcileReport[] = [];
    const submittedBefore = new Set<string>();
    const reconcile = () =>
      reconcileJournal({
        stateDirs: [state],
        directory: "/srv/proj",
        worktree: "/srv/proj",
        reader: { messages: async () => stored, title: async () => "current title" },
        relay: { submit: (run) => submitted.push(run) },
        audit,
        maxAgeMs: Number.MAX_SAFE_INTEGER,
        now: () => STARTED + 60_000,
        submittedBefore,
      });
    // Start-up: the owner lives, the run is left to it.
    expect((await reconcile()).ownerAlive).toHaveLength(1);

    const clock = manualSchedule();
    const stop = rescanJournal({ reconcile, onReport: (r) => reports.push(r), schedule: clock.schedule });
    expect(clock.armedDelay()).toBe(JOURNAL_RESCAN_MS);
    await clock.tick(); // still alive: nothing, and nothing reported
    expect(submitted).toEqual([]);
    expect(reports).toEqual([]);

    owner.kill("SIGKILL");
    await waitFor("the owner to be gone", () =>
      owner?.pid !== undefined && !pidExists(owner.pid) ? true : undefined,
    );
    await clock.tick();
    expect(submitted).toMatchObject([{ sessionId: "ses_1", outcome: "failed" }]);
    expect(reports.map((r) => r.submitted.length)).toEqual([1]);
    await audit.flush();
    const phases = readFileSync(join(dir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line).phase);
    expect(phases).toEqual(["reconciled"]);

    // The entry stays until the relay claims it (a stub relay here): not submitted again meanwhile.
    await clock.tick();
    expect(submitted).toHaveLength(1);
    stop();
    expect(clock.armedDelay()).toBeUndefined();
  });
});
