import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPromptHook } from "../../plugin/create-prompt-hook.ts";
import { createRunJournaller } from "../../plugin/create-run-journaller.ts";
import type { AuditInput } from "../../relay/audit/audit-record.ts";
import { type JournalEntry, openRunJournal } from "../../relay/state/run-journal.ts";

let dir: string;
let appended: AuditInput[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-prompt-hook-"));
  appended = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TITLE = "Fix runId=run-42 callbackSession=agent:main:main";
const audit = { append: async (input: AuditInput) => void appended.push(input) };

function setup(options: {
  titles?: Record<string, string>;
  title?: (id: string) => Promise<string>;
  stateDir?: string;
}) {
  const disk = openRunJournal(options.stateDir ?? dir);
  const writes: JournalEntry[] = [];
  const journaller = createRunJournaller({
    journal: {
      record: (entry) => {
        writes.push(entry);
        return disk.record(entry);
      },
    },
    audit,
    directory: "/d",
    worktree: "/w",
  });
  const asked: string[] = [];
  const hook = createPromptHook({
    titleOf: (id) => options.titles?.[id],
    reader: {
      title: (id) => {
        asked.push(id);
        return options.title?.(id) ?? Promise.reject(new Error("no such session"));
      },
    },
    journaller,
    timeoutMs: 200,
    now: () => 5_000,
  });
  return { disk, writes, journaller, hook, asked };
}

describe("the prompt hook (chat.message)", () => {
  it("has a tagged run on disk when it resolves, before its turn begins; the turn's busy writes nothing more", async () => {
    const { disk, writes, journaller, hook, asked } = setup({ titles: { ses_1: TITLE } });
    await hook({ sessionID: "ses_1" });
    expect((await disk.list()).entries).toMatchObject([
      { sessionId: "ses_1", runId: "run-42", startedAt: 5_000, pinnedTitle: TITLE },
    ]);
    expect(asked).toEqual([]); // the title came from the events
    journaller.start("ses_1", { key: "run-42", pinnedTitle: TITLE, currentTitle: TITLE }, 5_010);
    await journaller.flush();
    expect(writes).toHaveLength(1);
  });

  it("reads the title of a session its events never showed, and journals it when tagged", async () => {
    const { disk, hook, asked } = setup({ title: async () => TITLE });
    await hook({ sessionID: "ses_old" });
    expect(asked).toEqual(["ses_old"]);
    expect((await disk.list()).entries.map((e) => e.sessionId)).toEqual(["ses_old"]);
  });

  it("does nothing for an untagged session, without asking OpenCode", async () => {
    const { writes, hook, asked } = setup({ titles: { ses_u: "Plain work" } });
    await hook({ sessionID: "ses_u" });
    await hook({});
    expect(asked).toEqual([]);
    expect(writes).toEqual([]);
  });

  it("lets the prompt go on when the title cannot be read, or never answers", async () => {
    const never = setup({ title: () => new Promise<string>(() => {}) });
    await never.hook({ sessionID: "ses_1" });
    expect(never.writes).toEqual([]);
    const failing = setup({});
    await failing.hook({ sessionID: "ses_1" });
    expect(failing.writes).toEqual([]);
  });

  it("lets the prompt go on with a state_error when the journal cannot be written", async () => {
    const blocker = join(dir, "a-file");
    await writeFile(blocker, "");
    const { hook } = setup({ titles: { ses_1: TITLE }, stateDir: join(blocker, "state") });
    await expect(hook({ sessionID: "ses_1" })).resolves.toBeUndefined();
    expect(appended).toMatchObject([{ phase: "state_error", sessionId: "ses_1", code: "STATE_UNWRITABLE" }]);
  });
});
