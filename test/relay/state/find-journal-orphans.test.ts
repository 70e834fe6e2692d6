import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { writeAtomic } from "../../../relay/state/durable-file.ts";
import { findJournalOrphans } from "../../../relay/state/find-journal-orphans.ts";
import { ownerFilePath, ownerRenewedAt, renewOwner } from "../../../relay/state/owner-heartbeat.ts";
import { currentOwner } from "../../../relay/state/process-owner.ts";
import { openRunJournal } from "../../../relay/state/run-journal.ts";
import { journalEntry } from "../../helpers/journal-entry.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-orphans-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** This process's pid with another start time: exactly what a dead owner whose pid was reused looks like. */
const deadOwner = () => ({ ...currentOwner(), startTime: "1" });
const foreignOwner = () => ({ ...currentOwner(), host: "another-host" });

/** Claim a run the way the relay does: a staged file hard-linked as the marker. */
async function claim(stateDir: string, dedupeKey: string): Promise<void> {
  const staged = join(stateDir, `staged-${Date.now()}-${Math.random()}.json`);
  await writeFile(staged, "{}");
  expect(await openDedupeStore(stateDir).claimStaged(dedupeKey, staged)).toBe(true);
}

describe("findJournalOrphans", () => {
  it("sorts entries into orphans (dead owner), owner-alive, and claimed (retired)", async () => {
    const journal = openRunJournal(dir);
    await journal.record(journalEntry("ses_dead", "run-1", { owner: deadOwner() }));
    await journal.record(journalEntry("ses_live", "run-1"));
    await journal.record(journalEntry("ses_claimed", "run-1", { owner: deadOwner() }));
    await claim(dir, "ses_claimed|run-1");

    const scan = await findJournalOrphans(dir);
    expect(scan.orphans.map((e) => e.sessionId)).toEqual(["ses_dead"]);
    expect(scan.ownerAlive.map((e) => e.sessionId)).toEqual(["ses_live"]);
    expect(scan.retired.map((e) => e.sessionId)).toEqual(["ses_claimed"]);
    expect((await journal.list()).entries.map((e) => e.sessionId).sort()).toEqual(["ses_dead", "ses_live"]);
  });

  it("judges an owner on another host by how recently it renewed its owner file", async () => {
    const journal = openRunJournal(dir);
    const owner = foreignOwner();
    await journal.record(journalEntry("ses_far", "run-1", { owner }));
    // No owner file at all: nobody renews it, so it is an orphan.
    expect((await findJournalOrphans(dir)).orphans).toHaveLength(1);

    // Its owner file, as that host's renewOwner would keep it (written here under its identity).
    await mkdir(join(dir, "owners"), { recursive: true });
    await writeAtomic(ownerFilePath(dir, owner), owner);
    const renewed = (await ownerRenewedAt(dir, owner)) as number;
    expect((await findJournalOrphans(dir, { now: () => renewed + 1_000 })).ownerAlive).toHaveLength(1);
    expect((await findJournalOrphans(dir, { now: () => renewed + 120_000 })).orphans).toHaveLength(1);
  });

  it("only looks at runs journalled for the given directory", async () => {
    const journal = openRunJournal(dir);
    await journal.record(journalEntry("ses_a", "run-1", { owner: deadOwner(), directory: "/a" }));
    await journal.record(journalEntry("ses_b", "run-1", { owner: deadOwner(), directory: "/b" }));
    const scan = await findJournalOrphans(dir, { directory: "/b" });
    expect(scan.orphans.map((e) => e.sessionId)).toEqual(["ses_b"]);
  });

  it("reports torn files without throwing", async () => {
    const journal = openRunJournal(dir);
    await journal.record(journalEntry("ses_1", "run-1", { owner: deadOwner() }));
    await writeFile(join(journal.dir, `${"0".repeat(64)}.json`), '{"v":1,"sessionId":"ses_');
    const scan = await findJournalOrphans(dir);
    expect(scan.orphans).toHaveLength(1);
    expect(scan.unreadable).toHaveLength(1);
  });
});

describe("renewOwner", () => {
  it("writes this process's owner file once per state dir and keeps it fresh", async () => {
    await renewOwner(dir, 20);
    await renewOwner(dir, 20);
    const first = (await ownerRenewedAt(dir, currentOwner())) as number;
    expect(first).toBeGreaterThan(0);
    await expect
      .poll(async () => ((await ownerRenewedAt(dir, currentOwner())) ?? 0) > first, { timeout: 5_000 })
      .toBe(true);
  });
});
