import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Callback } from "../../../relay/callback/callback.ts";
import { markerName, openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { openNoFollow } from "../../../relay/state/open-no-follow.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-no-follow-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entry(key: string): OutboxEntry {
  const callback = { dedupeKey: key, idempotencyKey: `idem-${key}`, acceptedAt: 1, routing: {}, report: {} };
  return { v: 1, callback: callback as unknown as Callback, attempts: 0, dueAt: 5 };
}

describe("openNoFollow", () => {
  it("refuses a link at the path with STATE_SYMLINK_REFUSED, and opens a plain file", async () => {
    await writeFile(join(dir, "target"), "x");
    await symlink(join(dir, "target"), join(dir, "link"));
    await expect(openNoFollow(join(dir, "link"), "r")).rejects.toMatchObject({
      code: "STATE_SYMLINK_REFUSED",
    });
    await expect(openNoFollow(join(dir, "link"), "a")).rejects.toMatchObject({
      code: "STATE_SYMLINK_REFUSED",
    });
    const handle = await openNoFollow(join(dir, "target"), "r");
    await handle.close();
  });
});

describe("the state dir and planted links", () => {
  it("never takes an outbox entry through a link: it is listed unreadable, and read() finds none", async () => {
    const outbox = openOutbox(dir);
    await outbox.put(entry("s|real"));
    // Someone who can write the state dir plants an entry pointing at a file of their choosing.
    const planted = join(dir, "planted.json");
    await writeFile(planted, `${JSON.stringify(entry("s|planted"))}\n`);
    const name = `${markerName("s|planted")}.json`;
    await symlink(planted, join(dir, "outbox", name));
    const { entries, unreadable } = await outbox.pending();
    expect(entries.map((e) => e.callback.dedupeKey)).toEqual(["s|real"]);
    expect(unreadable).toEqual([name]);
    expect(await outbox.read("s|planted")).toBeNull();
    await outbox.close();
  });

  it("does not count a link at a dedupe marker as a claim, nor skip the run as claimed", async () => {
    const store = openDedupeStore(dir);
    const staged = join(dir, "staged.json");
    await writeFile(staged, "{}\n");
    await mkdir(join(dir, "dedupe"), { recursive: true });
    const marker = join(dir, "dedupe", `${markerName("s|r")}.json`);
    await symlink(staged, marker);
    expect(await store.isClaimOf("s|r", staged)).toBe(false);
    await expect(store.claimStaged("s|r", staged)).rejects.toMatchObject({ code: "STATE_SYMLINK_REFUSED" });
    expect(await readFile(staged, "utf8")).toBe("{}\n");
  });

  it("removes a link planted where a lease belongs (not its target), so the entry is not blocked", async () => {
    const outbox = openOutbox(dir);
    await outbox.put(entry("s|leased"));
    // Read through the link, this would name a live process of this host (pid 1) holding the lease.
    const target = join(dir, "lease-elsewhere");
    const text = JSON.stringify({ pid: 1, host: hostname(), holder: "someone", at: Date.now() });
    await writeFile(target, text);
    await symlink(target, join(dir, "outbox", `${markerName("s|leased")}.lease`));
    const lease = await outbox.lease("s|leased");
    expect(lease).not.toBeNull();
    expect(await readFile(target, "utf8")).toBe(text);
    await lease?.release();
    await outbox.close();
  });
});
