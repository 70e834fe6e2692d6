import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Callback } from "../../../relay/callback/callback.ts";
import { RelayError } from "../../../relay/errors/errors.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { type Outbox, openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";
import { LEASE_STALE_MS } from "../../../relay/state/outbox-lease.ts";

let dir: string;
const opened: Outbox[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-outbox-"));
});
afterEach(async () => {
  for (const outbox of opened.splice(0)) await outbox.close();
  await rm(dir, { recursive: true, force: true });
});

function open(stateDir = dir): Outbox {
  const outbox = openOutbox(stateDir);
  opened.push(outbox);
  return outbox;
}

function entry(key: string, attempts = 0): OutboxEntry {
  const callback = { dedupeKey: key, idempotencyKey: `idem-${key}`, acceptedAt: 1, routing: {}, report: {} };
  return { v: 1, callback: callback as unknown as Callback, attempts, dueAt: 5 };
}

const leasePath = (key: string) => join(dir, "outbox", `${markerName(key)}.lease`);

describe("openOutbox: entries", () => {
  it("writes entries atomically (no temp files left) with private modes, and lists them", async () => {
    const outbox = open();
    await outbox.put(entry("s|a"));
    await outbox.put(entry("s|b"));
    await outbox.put(entry("s|a", 3));
    const { entries, unreadable } = await outbox.pending();
    expect(unreadable).toEqual([]);
    expect(entries.map((e) => [e.callback.dedupeKey, e.attempts]).sort()).toEqual([
      ["s|a", 3],
      ["s|b", 0],
    ]);
    const names = await readdir(outbox.dir);
    expect(names.filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect((await stat(outbox.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(outbox.dir, `${markerName("s|a")}.json`))).mode & 0o777).toBe(0o600);
  });

  it("removes delivered entries and moves failed ones to failed/ for redelivery", async () => {
    const outbox = open();
    await outbox.put(entry("s|a"));
    await outbox.put(entry("s|b"));
    await outbox.remove("s|a");
    await outbox.remove("s|missing");
    await outbox.moveToFailed(entry("s|b", 12), "DELIVERY_RETRIES_EXHAUSTED", 99);
    expect((await outbox.pending()).entries).toEqual([]);
    const failed = await outbox.failed();
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ code: "DELIVERY_RETRIES_EXHAUSTED", failedAt: 99, attempts: 12 });
    await outbox.removeFailed("s|b");
    expect(await outbox.failed()).toEqual([]);
  });

  it("reports an unreadable entry without touching it, and setAside() moves it aside", async () => {
    const outbox = open();
    await outbox.put(entry("s|a"));
    await writeFile(join(outbox.dir, "garbage.json"), "{not json");
    const first = await outbox.pending();
    expect(first.unreadable).toEqual(["garbage.json"]);
    expect(first.entries).toHaveLength(1);
    expect((await outbox.pending()).unreadable).toEqual(["garbage.json"]);
    await outbox.setAside("garbage.json");
    expect((await outbox.pending()).unreadable).toEqual([]);
    expect(await readdir(join(outbox.dir, "failed"))).toContain("garbage.json.unreadable");
  });

  it("throws STATE_UNWRITABLE when the state dir cannot be created", async () => {
    await writeFile(join(dir, "file"), "x");
    const outbox = open(join(dir, "file", "state"));
    const error = await outbox.put(entry("s|a")).catch((e: unknown) => e);
    expect((error as RelayError).code).toBe("STATE_UNWRITABLE");
    expect(error).toBeInstanceOf(RelayError);
  });
});

describe("openOutbox: leases", () => {
  it("gives an entry to one holder at a time, and again once released", async () => {
    const a = open();
    const b = open();
    const lease = await a.lease("s|a");
    expect(lease).not.toBeNull();
    expect(await b.lease("s|a")).toBeNull();
    expect(await a.lease("s|a")).toBeNull();
    await lease?.release();
    expect(await b.lease("s|a")).not.toBeNull();
  });

  it("a holder whose lease was taken over leaves the new holder's lease when it releases", async () => {
    const a = open();
    const lease = await a.lease("s|over");
    expect(lease).not.toBeNull();
    // Taken over (as a breaker does: the old lease unlinked, the new holder's in its place).
    await rm(leasePath("s|over"));
    await writeFile(
      leasePath("s|over"),
      JSON.stringify({ pid: process.ppid, host: hostname(), holder: "new" }),
    );
    await lease?.release();
    expect(JSON.parse(await readFile(leasePath("s|over"), "utf8"))).toMatchObject({ holder: "new" });
    expect(await open().lease("s|over")).toBeNull();
  });

  it("a lease that is a copy of its holder's file (not a link to it) is still released by that holder", async () => {
    const a = open();
    const lease = await a.lease("s|copy");
    const text = await readFile(leasePath("s|copy"), "utf8");
    await rm(leasePath("s|copy"));
    await writeFile(leasePath("s|copy"), text);
    await lease?.release();
    await expect(stat(leasePath("s|copy"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("races: of many concurrent takers exactly one wins", async () => {
    const takers = Array.from({ length: 8 }, () => open());
    const leases = await Promise.all(takers.map((t) => t.lease("s|race")));
    expect(leases.filter((l) => l !== null)).toHaveLength(1);
  });

  it("frees the leases of a closed outbox", async () => {
    const a = open();
    const b = open();
    expect(await a.lease("s|a")).not.toBeNull();
    await a.close();
    expect(await b.lease("s|a")).not.toBeNull();
  });

  it("breaks a lease whose process is dead, or a foreign host's lease not renewed for LEASE_STALE_MS", async () => {
    const outbox = open();
    await outbox.lease("s|warmup"); // creates the folder
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    await writeFile(leasePath("s|dead"), JSON.stringify({ pid: dead, host: hostname(), holder: "x", at: 1 }));
    expect(await outbox.lease("s|dead")).not.toBeNull();

    const old = new Date(Date.now() - LEASE_STALE_MS - 1_000);
    await writeFile(leasePath("s|far"), JSON.stringify({ pid: 1, host: "elsewhere", holder: "x", at: 1 }));
    await utimes(leasePath("s|far"), old, old); // not renewed for longer than LEASE_STALE_MS
    expect(await outbox.lease("s|far")).not.toBeNull();
  });

  it("respects a lease held by a live process or a recently renewed foreign one", async () => {
    const outbox = open();
    await outbox.lease("s|warmup");
    await writeFile(
      leasePath("s|live"),
      JSON.stringify({ pid: process.ppid, host: hostname(), holder: "x", at: 1 }),
    );
    expect(await outbox.lease("s|live")).toBeNull();
    await writeFile(
      leasePath("s|near"),
      JSON.stringify({ pid: 1, host: "elsewhere", holder: "x", at: Date.now() }),
    );
    expect(await outbox.lease("s|near")).toBeNull();
    expect(JSON.parse(await readFile(leasePath("s|live"), "utf8"))).toMatchObject({ holder: "x" });
  });

  it("compact() removes a dead holder's orphan lease, keeps a live one", async () => {
    const outbox = open();
    await outbox.lease("s|warmup");
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    await writeFile(
      leasePath("s|orphan"),
      JSON.stringify({ pid: dead, host: hostname(), holder: "x", at: 1 }),
    );
    const live = await open().lease("s|accepting"); // an accept in progress: lease before entry
    await outbox.compact();
    const names = await readdir(outbox.dir);
    expect(names).not.toContain(`${markerName("s|orphan")}.lease`);
    expect(names).toContain(`${markerName("s|accepting")}.lease`);
    expect(live).not.toBeNull();
  });
});

describe("openOutbox: pruneFailed", () => {
  it("removes failed entries older than the retention, keeps recent ones", async () => {
    const outbox = open();
    await outbox.moveToFailed(entry("s|old"), "DELIVERY_EXPIRED", 1);
    await outbox.moveToFailed(entry("s|new"), "DELIVERY_EXPIRED", 2);
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    await utimes(join(outbox.dir, "failed", `${markerName("s|old")}.json`), old, old);
    expect(await outbox.pruneFailed(30 * 24 * 3600 * 1000)).toBe(1);
    expect((await outbox.failed()).map((e) => e.callback.dedupeKey)).toEqual(["s|new"]);
  });
});
