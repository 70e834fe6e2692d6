import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { openRunJournal } from "../../../relay/state/run-journal.ts";
import { journalEntry } from "../../helpers/journal-entry.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-journal-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("openRunJournal", () => {
  it("creates an entry once, 0600 in a 0700 folder, under the dedupe marker's name", async () => {
    const journal = openRunJournal(join(dir, "state"));
    const entry = journalEntry("ses_1", "run-1");
    expect(await journal.record(entry)).toBe(true);
    expect(await journal.record({ ...entry, startedAt: 9_999 })).toBe(false);
    const names = await readdir(journal.dir);
    expect(names).toEqual([`${markerName("ses_1|run-1")}.json`]);
    expect((await stat(journal.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(journal.dir, names[0] as string))).mode & 0o777).toBe(0o600);
    // The first write stands: a second sight of the run does not overwrite its pins or start.
    expect((await journal.list()).entries).toEqual([entry]);
  });

  it("lets exactly one of many concurrent writers create a run's entry", async () => {
    const journal = openRunJournal(dir);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => journal.record(journalEntry("ses_c", "run-c", { startedAt: i }))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await journal.list()).entries).toHaveLength(1);
    // No temporaries left behind.
    expect(await readdir(journal.dir)).toHaveLength(1);
  });

  it("group-commits runs journalled together: one file with a line each, linked under each run's name", async () => {
    const journal = openRunJournal(dir);
    const entries = Array.from({ length: 8 }, (_, i) => journalEntry(`ses_g${i}`, `run-g${i}`));
    expect(await Promise.all(entries.map((entry) => journal.record(entry)))).toEqual(Array(8).fill(true));
    const names = await readdir(journal.dir);
    expect(names.sort()).toEqual(entries.map((e) => `${markerName(e.dedupeKey)}.json`).sort());
    // One inode (one write, one fsync) under eight names; each name reads its own run.
    const inodes = new Set(await Promise.all(names.map(async (n) => (await stat(join(journal.dir, n))).ino)));
    expect(inodes.size).toBe(1);
    const listed = (await journal.list()).entries;
    expect(listed.map((e) => e.dedupeKey).sort()).toEqual(entries.map((e) => e.dedupeKey).sort());
    // Retiring one run leaves the others readable.
    await journal.retire(entries[0]?.dedupeKey as string);
    expect((await journal.list()).entries).toHaveLength(7);
  });

  it("retires an entry, and retiring a missing one is fine", async () => {
    const journal = openRunJournal(dir);
    await journal.record(journalEntry("ses_1", "run-1"));
    await journal.record(journalEntry("ses_2", "run-2"));
    await journal.retire("ses_1|run-1");
    await journal.retire("ses_1|run-1");
    await journal.retire("never|seen");
    expect((await journal.list()).entries.map((e) => e.dedupeKey)).toEqual(["ses_2|run-2"]);
  });

  it("skips a torn entry, a foreign file and a misnamed entry as unreadable instead of throwing", async () => {
    const journal = openRunJournal(dir);
    await journal.record(journalEntry("ses_ok", "run-ok"));
    const torn = join(journal.dir, `${markerName("ses_t|run-t")}.json`);
    await writeFile(torn, JSON.stringify(journalEntry("ses_t", "run-t")).slice(0, 40));
    const foreign = join(journal.dir, `${markerName("x")}.json`);
    await writeFile(foreign, JSON.stringify({ hello: "world" }));
    // A whole entry under another run's name: not trusted either.
    const misnamed = join(journal.dir, `${markerName("ses_m|run-m")}.json`);
    await writeFile(misnamed, JSON.stringify(journalEntry("ses_other", "run-other")));
    await writeFile(join(journal.dir, ".123.abcd.tmp"), "half");

    const listing = await journal.list();
    expect(listing.entries.map((e) => e.dedupeKey)).toEqual(["ses_ok|run-ok"]);
    expect(listing.unreadable.sort()).toEqual([torn, foreign, misnamed].sort());

    await journal.setAside(torn);
    expect((await journal.list()).unreadable).not.toContain(torn);
    expect(await readdir(journal.dir)).toContain(`${markerName("ses_t|run-t")}.json.unreadable`);
  });

  it("lists nothing when no run was ever journalled", async () => {
    expect(await openRunJournal(join(dir, "none")).list()).toEqual({ entries: [], unreadable: [] });
  });

  it("throws STATE_UNWRITABLE when the state dir cannot be created", async () => {
    const blocker = join(dir, "file");
    await writeFile(blocker, "not a folder");
    const error = await openRunJournal(blocker)
      .record(journalEntry("ses_1", "run-1"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayError);
    expect((error as RelayError).code).toBe("STATE_UNWRITABLE");
  });
});
