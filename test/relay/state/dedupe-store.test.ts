import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { markerName, openDedupeStore } from "../../../relay/state/dedupe-store.ts";

let dir: string;
let staging: string;
let files = 0;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-dedupe-"));
  staging = join(dir, "staging");
  await mkdir(staging);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A staged file naming its key, as the outbox writes one before claiming. */
async function staged(dedupeKey: string): Promise<string> {
  const path = join(staging, `${files++}.json`);
  await writeFile(path, `${JSON.stringify({ callback: { dedupeKey } })}\n`, { mode: 0o600 });
  return path;
}

describe("openDedupeStore", () => {
  it("claims a key once; later claims of the same key are refused", async () => {
    const store = openDedupeStore(dir);
    expect(await store.claimStaged("ses_1|run-1", await staged("ses_1|run-1"))).toBe(true);
    expect(await store.claimStaged("ses_1|run-1", await staged("ses_1|run-1"))).toBe(false);
    expect(await store.claimStaged("ses_1|run-2", await staged("ses_1|run-2"))).toBe(true);
  });

  it("lets exactly one of two stores on one state dir claim each key, even racing", async () => {
    const a = openDedupeStore(dir);
    const b = openDedupeStore(dir);
    const keys = Array.from({ length: 50 }, (_, i) => `ses_${i}|run-${i}`);
    const paths = await Promise.all(keys.map(async (key) => [await staged(key), await staged(key)] as const));
    const results = await Promise.all(
      keys.flatMap((key, i) => [a.claimStaged(key, paths[i]![0]), b.claimStaged(key, paths[i]![1])]),
    );
    for (let i = 0; i < keys.length; i++)
      expect([results[2 * i], results[2 * i + 1]].sort()).toEqual([false, true]);
  });

  it("makes the marker the staged file itself: private, naming its key, and told apart from a loser", async () => {
    const store = openDedupeStore(dir);
    const winner = await staged("ses_1|run|with|pipes");
    const loser = await staged("ses_1|run|with|pipes");
    await store.claimStaged("ses_1|run|with|pipes", winner);
    await store.claimStaged("ses_1|run|with|pipes", loser);
    expect((await stat(store.dir)).mode & 0o777).toBe(0o700);
    const [name] = await readdir(store.dir);
    const path = join(store.dir, name!);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({
      callback: { dedupeKey: "ses_1|run|with|pipes" },
    });
    expect(await store.isClaimOf("ses_1|run|with|pipes", winner)).toBe(true);
    expect(await store.isClaimOf("ses_1|run|with|pipes", loser)).toBe(false);
  });

  it("throws STATE_UNWRITABLE when the state dir cannot be created", async () => {
    const file = join(dir, "file");
    await writeFile(file, "x");
    const store = openDedupeStore(join(file, "state"));
    const error = await store.claimStaged("k", await staged("k")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayError);
    expect((error as RelayError).code).toBe("STATE_UNWRITABLE");
  });

  it("prunes markers older than the retention, keeping recent ones", async () => {
    const store = openDedupeStore(dir);
    await store.claimStaged("old", await staged("old"));
    await store.claimStaged("new", await staged("new"));
    const sixtyDaysAgo = new Date(Date.now() - 60 * 24 * 3600 * 1000);
    await utimes(join(store.dir, `${markerName("old")}.json`), sixtyDaysAgo, sixtyDaysAgo);
    expect(await readdir(store.dir)).toHaveLength(2);
    expect(await store.prune(30 * 24 * 3600 * 1000)).toBe(1);
    expect(await readdir(store.dir)).toEqual([`${markerName("new")}.json`]);
    expect(await store.claimStaged("old", await staged("old"))).toBe(true);
  });
});
