import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { openDedupeStore } from "../../../relay/state/dedupe-store.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-dedupe-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("openDedupeStore", () => {
  it("claims a key once; later claims of the same key are refused", async () => {
    const store = openDedupeStore(dir);
    expect(await store.claim("ses_1|run-1")).toBe(true);
    expect(await store.claim("ses_1|run-1")).toBe(false);
    expect(await store.claim("ses_1|run-2")).toBe(true);
    expect(await store.has("ses_1|run-1")).toBe(true);
    expect(await store.has("ses_9|run-9")).toBe(false);
  });

  it("lets exactly one of two stores on one state dir claim each key, even racing", async () => {
    const a = openDedupeStore(dir);
    const b = openDedupeStore(dir);
    const keys = Array.from({ length: 50 }, (_, i) => `ses_${i}|run-${i}`);
    const results = await Promise.all(keys.flatMap((key) => [a.claim(key), b.claim(key)]));
    for (let i = 0; i < keys.length; i++)
      expect([results[2 * i], results[2 * i + 1]].sort()).toEqual([false, true]);
  });

  it("writes private markers that name their key", async () => {
    const store = openDedupeStore(dir, { now: () => 42 });
    await store.claim("ses_1|run|with|pipes");
    expect((await stat(store.dir)).mode & 0o777).toBe(0o700);
    const [name] = await readdir(store.dir);
    const path = join(store.dir, name!);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({
      dedupeKey: "ses_1|run|with|pipes",
      claimedAt: 42,
    });
  });

  it("throws STATE_UNWRITABLE when the state dir cannot be created", async () => {
    const file = join(dir, "file");
    await writeFile(file, "x");
    const store = openDedupeStore(join(file, "state"));
    const error = await store.claim("k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayError);
    expect((error as RelayError).code).toBe("STATE_UNWRITABLE");
  });

  it("prunes markers older than the retention, keeping recent ones", async () => {
    const now = Date.now();
    const store = openDedupeStore(dir, { now: () => now });
    await store.claim("old");
    await store.claim("new");
    const markers = await readdir(store.dir);
    const sixtyDaysAgo = new Date(now - 60 * 24 * 3600 * 1000);
    for (const name of markers) {
      const content = JSON.parse(await readFile(join(store.dir, name), "utf8")) as { dedupeKey: string };
      if (content.dedupeKey === "old") await utimes(join(store.dir, name), sixtyDaysAgo, sixtyDaysAgo);
    }
    expect(markers).toHaveLength(2);
    expect(await store.prune(30 * 24 * 3600 * 1000)).toBe(1);
    expect(await store.has("old")).toBe(false);
    expect(await store.has("new")).toBe(true);
    expect(await store.claim("old")).toBe(true);
  });
});
