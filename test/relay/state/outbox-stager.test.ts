import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Callback } from "../../../relay/callback/callback.ts";
import { markerName, openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { type Outbox, openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";

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
    expect(await readdir(stagedDir())).toEqual([]);
    for (const key of keys) expect((await outbox.read(key))?.callback.dedupeKey).toBe(key);
    const { entries, unreadable } = await outbox.pending();
    expect(unreadable).toEqual([]);
    expect(entries.map((e) => e.callback.dedupeKey).sort()).toEqual([...keys].sort());
    const inode = (await stat(join(outbox.dir, `${markerName(keys[0] as string)}.json`))).ino;
    expect((await stat(join(outbox.dir, `${markerName(keys[11] as string)}.json`))).ino).toBe(inode);
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
    expect(await readdir(stagedDir())).toHaveLength(1);
    await outbox.discard(path as string);
    await promoting;
    expect(await readdir(stagedDir())).toEqual([]);
    expect(await outbox.read("s|b")).toBeNull();
  });
});
