import { spawnSync } from "node:child_process";
import fs, { existsSync, readdirSync, statSync } from "node:fs";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Callback } from "../../../relay/callback/callback.ts";
import { markerName, openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { entryLines } from "../../../relay/state/entry-lines.ts";
import { type Outbox, openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";
import { SPARE_BYTES } from "../../../relay/state/outbox-stager.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import { isUnfilledSpare, stagedBatchFiles } from "../../helpers/pending-outbox-files.ts";
import { fileHandlePrototype, replaceFsCalls } from "../../helpers/replace-fs-calls.ts";

let dir: string;
let outbox: Outbox;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-stager-"));
  outbox = openOutbox(dir);
});
afterEach(async () => {
  await outbox.close();
  await rm(dir, { recursive: true, force: true });
});

function entry(key: string): OutboxEntry {
  const callback = { dedupeKey: key, idempotencyKey: `idem-${key}`, acceptedAt: 1, routing: {}, report: {} };
  return { v: 1, callback: callback as unknown as Callback, attempts: 0, dueAt: 5 };
}

const stagedDir = () => join(dir, "outbox", "staged");

describe("openOutbox: group-committed staging", () => {
  it("stages callbacks handed over together in one batch file, one line each; claims and pending entries link to it", async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `s|run-${i}`);
    const paths = await Promise.all(keys.map((key) => outbox.stage(entry(key))));
    expect(new Set(paths).size).toBe(1);
    const batch = paths[0] as string;
    expect((await readFile(batch, "utf8")).trim().split("\n")).toHaveLength(12);
    expect((await stat(batch)).mode & 0o777).toBe(0o600);

    const dedupe = openDedupeStore(dir);
    for (const key of keys) expect(await dedupe.claimStaged(key, batch)).toBe(true);
    await Promise.all(keys.map((key) => outbox.promote(batch, key)));

    // Each pending name reads its own callback; the staged name is gone, the inode is shared.
    expect(stagedBatchFiles(dir)).toEqual([]);
    for (const key of keys) expect((await outbox.read(key))?.callback.dedupeKey).toBe(key);
    const { entries, unreadable } = await outbox.pending();
    expect(unreadable).toEqual([]);
    expect(entries.map((e) => e.callback.dedupeKey).sort()).toEqual([...keys].sort());
    const inode = (await stat(join(outbox.dir, `${markerName(keys[0] as string)}.json`))).ino;
    expect((await stat(join(outbox.dir, `${markerName(keys[11] as string)}.json`))).ino).toBe(inode);
  });

  it("records the callbacks delivered from a batch in one file beside it, which goes only once the batch has", async () => {
    const [path, other] = await Promise.all([outbox.stage(entry("s|r1")), outbox.stage(entry("s|r2"))]);
    expect(other).toBe(path);
    const batch = path as string;
    const record = `${batch}.delivered`;
    // Both delivered straight from the batch, one after the other.
    outbox.markDelivered(batch, "s|r1");
    await outbox.discard(batch);
    expect(existsSync(batch)).toBe(true); // its batch-mate is still open
    expect((await stat(record)).mode & 0o777).toBe(0o600);
    expect(await readFile(record, "utf8")).toBe(`${markerName("s|r1")}\n`);
    const delivered = await outbox.deliveredFrom(batch);
    expect([delivered("s|r1"), delivered("s|r2")]).toEqual([true, false]);
    outbox.markDelivered(batch, "s|r2");
    await outbox.discard(batch);
    expect(existsSync(batch)).toBe(false);
    expect(existsSync(record)).toBe(false);
    // The dedupe folder is not touched: no `.delivered` link there.
    expect(
      (await readdir(join(dir, "dedupe")).catch(() => [])).filter((n) => n.endsWith(".delivered")),
    ).toEqual([]);
  });

  it("removes the batch itself for its last callback still open, and writes a line when it cannot", async () => {
    // A lone callback: its batch's staged name going says it; no record is made.
    const lone = await outbox.stage(entry("s|r3"));
    outbox.markDelivered(lone, "s|r3");
    expect(existsSync(lone)).toBe(false);
    expect(existsSync(`${lone}.delivered`)).toBe(false);
    await outbox.discard(lone);
    // The last of two, whose staged name cannot go (unlink(2) refuses a directory): a line, kept.
    const [batch] = await Promise.all([outbox.stage(entry("s|r3a")), outbox.stage(entry("s|r3b"))]);
    const path = batch as string;
    outbox.markDelivered(path, "s|r3a");
    await outbox.discard(path);
    await rename(path, `${path}.moved`);
    await mkdir(path);
    outbox.markDelivered(path, "s|r3b");
    await outbox.discard(path);
    expect(existsSync(`${path}.delivered`)).toBe(true);
    const read = await outbox.deliveredFrom(path);
    expect([read("s|r3a"), read("s|r3b")]).toEqual([true, true]);
  });

  it("removes a lone callback's batch once: discard() does not try again at the name already gone", async () => {
    // Every lone callback takes this path: a second unlink(2) would fail (ENOENT) and throw each time.
    const unlinked: Array<{ path: string; failed: boolean }> = [];
    const calls = replaceFsCalls();
    calls.replace(fs, "unlinkSync", (real) => (path) => {
      try {
        real(path);
        unlinked.push({ path: String(path), failed: false });
      } catch (error) {
        unlinked.push({ path: String(path), failed: true });
        throw error;
      }
    });
    try {
      const lone = await outbox.stage(entry("s|once"));
      outbox.markDelivered(lone, "s|once");
      await outbox.discard(lone, join(dir, "then-remove"));
      expect(unlinked.filter((u) => u.path === lone)).toEqual([{ path: lone, failed: false }]);
      // What discard() was asked to remove once the batch is gone still goes.
      expect(unlinked.map((u) => u.path)).toContain(join(dir, "then-remove"));
    } finally {
      calls.restore();
    }
  });

  it("reads a record as the whole lines it holds: none when there is none, none through a planted link or FIFO", async () => {
    const batch = await outbox.stage(entry("s|r4"));
    expect((await outbox.deliveredFrom(batch))("s|r4")).toBe(false);
    // A line cut short (a full disk mid-write) names nothing; the line after it, written apart, does.
    await writeFile(`${batch}.delivered`, `${markerName("s|r4").slice(0, 20)}\n${markerName("s|r5")}\n`);
    const read = await outbox.deliveredFrom(batch);
    expect([read("s|r4"), read("s|r5")]).toEqual([false, true]);
    await rm(`${batch}.delivered`);
    await writeFile(join(dir, "elsewhere"), `${markerName("s|r4")}\n`);
    await symlink(join(dir, "elsewhere"), `${batch}.delivered`);
    expect((await outbox.deliveredFrom(batch))("s|r4")).toBe(false);
    // Nor through a FIFO planted there, which a read would wait on forever.
    await rm(`${batch}.delivered`);
    expect(spawnSync("mkfifo", [`${batch}.delivered`]).status).toBe(0);
    expect((await outbox.deliveredFrom(batch))("s|r4")).toBe(false);
    await outbox.discard(batch);
  });

  it("refuses to write a batch's first line into a file already at its record's name, and says so", async () => {
    const [path] = await Promise.all([outbox.stage(entry("s|r6")), outbox.stage(entry("s|r7"))]);
    const batch = path as string;
    await writeFile(`${batch}.delivered`, "");
    let thrown: unknown;
    try {
      outbox.markDelivered(batch, "s|r6");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: "STATE_UNWRITABLE" });
    expect(await readFile(`${batch}.delivered`, "utf8")).toBe("");
    await outbox.discard(batch);
    await outbox.discard(batch);
  });

  it("removes the .delivered links of a batch only once its staged name is gone", async () => {
    const dedupe = openDedupeStore(dir);
    const [path, other] = await Promise.all([outbox.stage(entry("s|d1")), outbox.stage(entry("s|d2"))]);
    expect(other).toBe(path);
    const batch = path as string;
    for (const key of ["s|d1", "s|d2"]) expect(await dedupe.claimStaged(key, batch)).toBe(true);
    // Both delivered straight from the batch.
    const first = dedupe.markStagedDelivered("s|d1", batch);
    await outbox.discard(batch, first);
    expect(await dedupe.deliveredFrom("s|d1", batch)).toBe(true); // its batch-mate is still open
    const second = dedupe.markStagedDelivered("s|d2", batch);
    await outbox.discard(batch, second);
    expect(existsSync(batch)).toBe(false);
    expect(existsSync(first) || existsSync(second)).toBe(false);
  });

  it("keeps the .delivered links when the disk refuses to remove the batch's staged name", async () => {
    const dedupe = openDedupeStore(dir);
    const batch = await outbox.stage(entry("s|k1"));
    expect(await dedupe.claimStaged("s|k1", batch)).toBe(true);
    const mark = dedupe.markStagedDelivered("s|k1", batch);
    // The staged name now names something unlink(2) refuses (a directory): the batch cannot go.
    await rename(batch, `${batch}.moved`);
    await mkdir(batch);
    await outbox.discard(batch, mark);
    expect(existsSync(batch)).toBe(true);
    expect(existsSync(mark)).toBe(true);
  });

  it("resolves a promote only once every callback of its batch is promoted or discarded, and the staged name is gone", async () => {
    const [path, other] = await Promise.all([outbox.stage(entry("s|a")), outbox.stage(entry("s|b"))]);
    expect(other).toBe(path);
    let promoted = false;
    const promoting = outbox.promote(path as string, "s|a").then(() => {
      promoted = true;
    });
    const pendingA = join(outbox.dir, `${markerName("s|a")}.json`);
    await waitFor("the pending name of s|a", () => (existsSync(pendingA) ? true : undefined));
    // s|b is neither promoted nor discarded: the batch (and its staged name) must stay, and a
    // delivery of s|a must not forget it yet (its promote has not resolved).
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(await outbox.read("s|a")).not.toBeNull();
    expect(promoted).toBe(false);
    expect(stagedBatchFiles(dir)).toHaveLength(1);
    await outbox.discard(path as string);
    await promoting;
    expect(stagedBatchFiles(dir)).toEqual([]);
    expect(await outbox.read("s|b")).toBeNull();
  });
});

describe("openOutbox: promoting, durably", () => {
  it("fsyncs the outbox folder after every pending name a batch's callbacks got, before the batch's staged name goes", async () => {
    // Until that fsync the new names may not survive a power loss: the staged one must outlive it.
    const events: string[] = [];
    const outboxDir = join(dir, "outbox");
    const folders = new WeakSet<object>();
    const calls = replaceFsCalls();
    calls.replace(fs.promises, "open", (real) => async (...args: Parameters<typeof real>) => {
      const handle = await real(...args);
      if (args[0] === outboxDir) folders.add(handle);
      return handle;
    });
    calls.replace(
      await fileHandlePrototype(),
      "sync",
      (real) =>
        async function (this: object) {
          await real.call(this);
          if (folders.has(this)) events.push("outbox folder fsynced");
        },
    );
    calls.replace(fs, "linkSync", (real) => (from, to) => {
      real(from, to);
      if (dirname(String(to)) === outboxDir) events.push("pending name made");
    });
    calls.replace(fs, "unlinkSync", (real) => (path) => {
      real(path);
      if (dirname(String(path)) === stagedDir()) events.push("staged name removed");
    });
    try {
      const [path] = await Promise.all([outbox.stage(entry("s|p1")), outbox.stage(entry("s|p2"))]);
      events.length = 0;
      await Promise.all([outbox.promote(path as string, "s|p1"), outbox.promote(path as string, "s|p2")]);
      const removedAt = events.indexOf("staged name removed");
      const lastMade = events.lastIndexOf("pending name made");
      expect(removedAt).toBeGreaterThan(lastMade);
      expect(lastMade).toBeGreaterThanOrEqual(0);
      expect(events.slice(lastMade, removedAt)).toContain("outbox folder fsynced");
    } finally {
      calls.restore();
    }
  });
});

describe("openOutbox: the batch file made ahead (spare-file.ts)", () => {
  /** The staged files, and which of them are unfilled spares (all NULs). */
  async function stagedNow(): Promise<{ all: string[]; spares: string[] }> {
    const all = (await readdir(stagedDir())).map((name) => join(stagedDir(), name));
    return { all, spares: all.filter(isUnfilledSpare) };
  }
  const sparesNow = () =>
    readdirSync(stagedDir())
      .map((name) => join(stagedDir(), name))
      .filter(isUnfilledSpare);
  const oneSpare = async () => {
    const { all, spares } = await stagedNow();
    expect(all).toEqual(spares);
    expect(spares).toHaveLength(1);
    return spares[0] as string;
  };
  /** A staged file's name as a process that has since exited would have written it. */
  async function asDeadProcess(path: string): Promise<string> {
    const parts = basename(path).split(".");
    parts[2] = String(spawnSync(process.execPath, ["-e", ""]).pid);
    const moved = join(dirname(path), parts.join("."));
    await rename(path, moved);
    return moved;
  }
  const hourAgo = () => new Date(Date.now() - 3_600_000);

  it("writes a lone batch into it, then cuts off the NULs; every name linked to it reads the callback", async () => {
    await outbox.prepare();
    const spare = await oneSpare();
    expect((await stat(spare)).size).toBe(SPARE_BYTES);
    expect((await stat(spare)).mode & 0o777).toBe(0o600);

    // The path, or a promise of it when the flusher's thread took longer than the wait (a busy machine).
    const path = await outbox.stageNow(entry("s|lone"));
    expect(path).toBe(spare);
    const line = `${JSON.stringify(entry("s|lone"))}\n`;
    // At once the line, then NULs (or already cut); soon the line alone, taking no more room.
    expect((await readFile(spare, "utf8")).startsWith(line)).toBe(true);
    await waitFor("the NULs cut off", () => (statSync(spare).size === line.length ? true : undefined));
    expect(await readFile(spare, "utf8")).toBe(line);
    // The claim and the pending name link it, and read their callback.
    const dedupe = openDedupeStore(dir);
    expect(await dedupe.claimStaged("s|lone", spare)).toBe(true);
    await outbox.promote(spare, "s|lone");
    expect((await outbox.read("s|lone"))?.callback.idempotencyKey).toBe("idem-s|lone");
    expect((await outbox.pending()).unreadable).toEqual([]);
    // And the next one is made for the next lone batch.
    const next = await waitFor("a new spare", () => sparesNow().find((path) => path !== spare));
    expect(sparesNow()).toEqual([next]);
  });

  it("writes into a new file when the spare was removed meanwhile (another process's recovery)", async () => {
    await outbox.prepare();
    await rm(await oneSpare());
    const path = (await outbox.stageNow(entry("s|gone"))) as string;
    expect(existsSync(path)).toBe(true);
    expect(await readFile(path, "utf8")).toBe(`${JSON.stringify(entry("s|gone"))}\n`);
    const dedupe = openDedupeStore(dir);
    expect(await dedupe.claimStaged("s|gone", path)).toBe(true);
  });

  it("writes a batch larger than the spare into a new file, and keeps the spare for the next", async () => {
    await outbox.prepare();
    const spare = await oneSpare();
    const big = entry("s|big");
    (big.callback as unknown as { report: { summary: string } }).report = {
      summary: "x".repeat(SPARE_BYTES),
    };
    const path = (await outbox.stageNow(big)) as string;
    expect(path).not.toBe(spare);
    expect(JSON.parse(await readFile(path, "utf8")).callback.report.summary).toHaveLength(SPARE_BYTES);
    expect(isUnfilledSpare(spare)).toBe(true);
    expect((await outbox.stageNow(entry("s|small"))) ?? (await outbox.stage(entry("s|small")))).toBe(spare);
  });

  it("recovery leaves a live process's spare alone however old, and removes a dead process's", async () => {
    await outbox.prepare();
    const live = await oneSpare();
    await utimes(live, hourAgo(), hourAgo());
    // Another relay of this process (OpenCode serving two projects) on the same state dir.
    const other = openOutbox(dir);
    try {
      expect(await other.staged()).toEqual([]);
      expect(existsSync(live)).toBe(true);
      // The same spare, left by a process that has exited: removed at once, young as it is.
      const dead = await asDeadProcess(live);
      await utimes(dead, new Date(), new Date());
      expect(await other.staged()).toEqual([]);
      expect(existsSync(dead)).toBe(false);
    } finally {
      await other.close();
    }
  });

  it("recovery reads a callback a dead process wrote into its spare, through the NULs", async () => {
    await outbox.prepare();
    const path = await asDeadProcess((await outbox.stageNow(entry("s|filled"))) as string);
    const other = openOutbox(dir);
    try {
      expect((await other.staged()).map((s) => [s.path, s.entry.callback.dedupeKey])).toEqual([
        [path, "s|filled"],
      ]);
    } finally {
      await other.close();
    }
  });

  it("close() removes the spare", async () => {
    await outbox.prepare();
    const spare = await oneSpare();
    await outbox.close();
    expect(existsSync(spare)).toBe(false);
    await outbox.prepare();
    expect((await stagedNow()).all).toEqual([]);
  });
});

describe("entryLines", () => {
  const line = `${JSON.stringify(entry("s|a"))}\n`;
  it("reads the lines before trailing NULs (a filled spare)", () => {
    expect(entryLines(`${line}\0\0\0`)?.map((e) => e.callback.dedupeKey)).toEqual(["s|a"]);
  });
  it("is null for a file of NULs only (a spare never filled), or a NUL anywhere else", () => {
    expect(entryLines("\0".repeat(64))).toBeNull();
    expect(entryLines(`${line}\0${line}`)).toBeNull();
    expect(entryLines(`{"v":1\0}\n`)).toBeNull();
  });
});
