import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildCallback } from "../../../relay/callback/build-callback.ts";
import { checkIntegrity } from "../../../relay/integrity/check-integrity.ts";
import { markerName, openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";
import { readClaimedEntry } from "../../../relay/state/read-claimed-entry.ts";
import { INSTANCE, makeRun, relayFixture } from "../../helpers/relay-fixture.ts";

let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function entryFor(runId: string): Promise<OutboxEntry> {
  const fx = await relayFixture();
  await fx.cleanup();
  const run = makeRun(runId);
  const verdict = checkIntegrity(run, INSTANCE, fx.config);
  if (!verdict.ok) throw verdict.error;
  const callback = buildCallback(run, verdict, 5_000);
  return { v: 1, callback, attempts: 0, dueAt: 5_000 };
}

describe("readClaimedEntry", () => {
  it("reads the callback from the dedupe marker after the outbox entry was promoted, rewritten and removed", async () => {
    dir = await mkdtemp(join(tmpdir(), "ocr-claimed-"));
    const entry = await entryFor("c1");
    const key = entry.callback.dedupeKey;
    const outbox = openOutbox(dir);
    const staged = await outbox.stage(entry);
    expect(await openDedupeStore(dir).claimStaged(key, staged)).toBe(true);
    await outbox.promote(staged, key);
    await outbox.put({ ...entry, attempts: 3, dueAt: 9_000 }); // a retry rewrote the entry
    await outbox.remove(key); // delivered
    await outbox.close();
    expect(await readClaimedEntry(dir, key)).toEqual(entry);
  });

  it("is null for no marker, a marker without a callback, another key's callback, or a symbolic link", async () => {
    dir = await mkdtemp(join(tmpdir(), "ocr-claimed-"));
    const entry = await entryFor("c2");
    const key = entry.callback.dedupeKey;
    expect(await readClaimedEntry(dir, key)).toBeNull();
    const markers = join(dir, "dedupe");
    await mkdir(markers, { recursive: true });
    const marker = join(markers, `${markerName(key)}.json`);
    await writeFile(marker, "");
    expect(await readClaimedEntry(dir, key)).toBeNull();
    await rm(marker);
    await writeFile(marker, JSON.stringify({ ...entry, callback: { ...entry.callback, dedupeKey: "x|y" } }));
    expect(await readClaimedEntry(dir, key)).toBeNull();
    await rm(marker);
    const elsewhere = join(dir, "elsewhere.json");
    await writeFile(elsewhere, JSON.stringify(entry));
    await symlink(elsewhere, marker);
    expect(await readClaimedEntry(dir, key)).toBeNull();
  });
});
