import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRunJournaller } from "../../plugin/create-run-journaller.ts";
import type { AuditInput } from "../../relay/audit/audit-record.ts";
import { RelayError } from "../../relay/errors/errors.ts";
import { type Notice, noticeLine } from "../../relay/errors/print-notice.ts";
import { type JournalEntry, openRunJournal } from "../../relay/state/run-journal.ts";

let dir: string;
let appended: AuditInput[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-journaller-"));
  appended = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const audit = { append: async (input: AuditInput) => void appended.push(input) };
const pin = (pinnedTitle: string) => ({ key: "raw", pinnedTitle, currentTitle: pinnedTitle });
const TITLE = "Fix runId=run%2D42 callbackSession=agent:main:main";

describe("createRunJournaller", () => {
  it("writes nothing on the caller's stack, then one entry per run with the decoded runId", async () => {
    const disk = openRunJournal(dir);
    let writes = 0;
    const journal = {
      record: (entry: JournalEntry) => {
        writes++;
        return disk.record(entry);
      },
    };
    const journaller = createRunJournaller({ journal, audit, directory: "/d", worktree: "/w", now: () => 7 });
    for (let turn = 0; turn < 3; turn++) journaller.start("ses_1", pin(TITLE), 1_000 + turn);
    journaller.start("ses_2", pin("untagged title"), 1_000);
    // Not on the hook's stack, nor in the microtasks right after it: a later turn of the event loop.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(writes).toBe(0);
    await journaller.flush();
    expect(writes).toBe(1);
    const { entries } = await disk.list();
    expect(entries).toMatchObject([
      { sessionId: "ses_1", runId: "run-42", dedupeKey: "ses_1|run-42", startedAt: 1_000, journalledAt: 7 },
    ]);
    expect(entries[0]?.owner.pid).toBe(process.pid);
    expect(appended).toEqual([]);
  });

  it("hands the runs started in one turn to the journal together, so they share one group commit", async () => {
    const journaller = createRunJournaller({
      journal: openRunJournal(dir),
      audit,
      directory: "/d",
      worktree: "/w",
    });
    for (let i = 0; i < 6; i++)
      journaller.start(`ses_f${i}`, pin(`Fan runId=run-${i} callbackSession=agent:main:main`), 1);
    await journaller.flush();
    const journalDir = join(dir, "journal");
    const names = (await readdir(journalDir)).filter((name) => name.endsWith(".json"));
    expect(names).toHaveLength(6);
    const inodes = new Set(
      await Promise.all(names.map(async (name) => (await stat(join(journalDir, name))).ino)),
    );
    expect(inodes.size).toBe(1);
  });

  it("holds a run while the configuration is unusable: one held record with the error's code", async () => {
    const journal = openRunJournal(dir);
    const held = new RelayError("CONFIG_ENV_MISSING", "{env:TOKEN} is not set");
    const notices: string[] = [];
    const notify = (notice: Notice) => void notices.push(noticeLine(notice));
    const journaller = createRunJournaller({ journal, audit, directory: "/d", worktree: "/w", held, notify });
    journaller.start("ses_1", pin(TITLE), 1_000);
    await journaller.flush();
    journaller.start("ses_1", pin(TITLE), 2_000);
    await journaller.flush();
    // A second process (or a restart) seeing the same run writes no second record either.
    const again = createRunJournaller({ journal, audit, directory: "/d", worktree: "/w", held, notify });
    again.start("ses_1", pin(TITLE), 3_000);
    await again.flush();
    expect(appended).toMatchObject([
      {
        phase: "held",
        code: "CONFIG_ENV_MISSING",
        sessionId: "ses_1",
        runId: "run-42",
        callbackSession: "agent:main:main",
      },
    ]);
    expect((await journal.list()).entries).toMatchObject([{ heldCode: "CONFIG_ENV_MISSING" }]);
    // One line where people look (OpenCode's stderr), once per run, with the code and the fix.
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('run "run-42" (OpenCode session ses_1) held: CONFIG_ENV_MISSING');
    expect(notices[0]).toContain("delivered once it is fixed");
  });

  it("records STATE_UNWRITABLE instead of throwing when the journal cannot be written", async () => {
    const journal = {
      record: async () => {
        throw new RelayError("STATE_UNWRITABLE", "disk full");
      },
    };
    const journaller = createRunJournaller({ journal, audit, directory: "/d", worktree: "/w" });
    journaller.start("ses_1", pin(TITLE), 1_000);
    await journaller.flush();
    expect(appended).toMatchObject([{ phase: "state_error", code: "STATE_UNWRITABLE", sessionId: "ses_1" }]);
  });
});
