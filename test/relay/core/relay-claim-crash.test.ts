import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { rename, rm, utimes } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildCallback } from "../../../relay/callback/build-callback.ts";
import { createRelay } from "../../../relay/core/create-relay.ts";
import { checkIntegrity } from "../../../relay/integrity/check-integrity.ts";
import { markerName, openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";
import { HALF_WRITTEN_MS } from "../../../relay/state/outbox-lease.ts";
import { stagedBatchFiles } from "../../helpers/pending-outbox-files.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

function entryFor(fx: RelayFixture, runId: string): OutboxEntry {
  const verdict = checkIntegrity(makeRun(runId), INSTANCE, fx.config);
  if (!verdict.ok) throw verdict.error;
  const callback = buildCallback(makeRun(runId), verdict, Date.now());
  return { v: 1, callback, attempts: 0, dueAt: callback.acceptedAt };
}

/** What accept() works with, on the fixture's state dir, for one run: as a crashed process left it. */
function crashState(fx: RelayFixture, runId: string) {
  return {
    outbox: openOutbox(fx.stateDir),
    dedupe: openDedupeStore(fx.stateDir),
    entry: entryFor(fx, runId),
  };
}

/** Age a staged file past the window in which it may belong to a live accept. */
async function age(path: string): Promise<void> {
  const past = new Date(Date.now() - HALF_WRITTEN_MS - 5_000);
  await utimes(path, past, past);
}

/** A fresh relay (as after a restart) on the fixture's state dir: recover, settle, close. */
async function recoverOnce(fx: RelayFixture): Promise<void> {
  const relay = createRelay({
    config: fx.config,
    instance: INSTANCE,
    audit: fx.audit,
    stateDir: fx.stateDir,
  });
  await relay.recover();
  await relay.drain();
  await relay.close();
}

describe("createRelay: a crash between the dedupe claim and the outbox write", () => {
  it("loses nothing: recover() finds the claimed staged callback and delivers it once", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    // What accept() does up to the crash: stage the entry, claim the run with it, then die.
    const { outbox, dedupe, entry } = crashState(fx, "crash1");
    const staged = await outbox.stage(entry);
    expect(await dedupe.claimStaged(entry.callback.dedupeKey, staged)).toBe(true);
    await age(staged);
    await outbox.close(); // the process dies (an open stager in this process is a live writer)

    const relay = createRelay({
      config: fx.config,
      instance: INSTANCE,
      audit: fx.audit,
      stateDir: fx.stateDir,
    });
    await relay.recover();
    await relay.drain();
    // The run is claimed: submitting it again (a late idle) must not send a second callback.
    relay.submit(makeRun("crash1"));
    await relay.drain();
    await relay.close();

    expect(fx.receiver.requests).toHaveLength(1);
    expect(fx.receiver.requests[0]?.headers["idempotency-key"]).toBe(entry.callback.idempotencyKey);
    const records = await fx.records();
    expect(phase(records, "recovered")).toHaveLength(1);
    expect(phase(records, "delivered")).toHaveLength(1);
    expect(phase(records, "deduped")).toHaveLength(1);
    expect(stagedBatchFiles(fx.stateDir)).toEqual([]);
  });

  // Said by a line in the batch's delivered record, or by a `.delivered` link (when the disk
  // refused the line, and as older versions did).
  for (const how of ["record", "link"] as const) {
    it(`sends nothing for a callback delivered straight from its staged batch before the crash (${how})`, async () => {
      fixture = await relayFixture();
      const fx = fixture;
      // Two callbacks staged and claimed in one batch; one was delivered from it (marked so), the
      // other was still in flight when the process died.
      const { outbox, dedupe, entry } = crashState(fx, "done1");
      const other = entryFor(fx, "inflight1");
      const [staged, stagedToo] = await Promise.all([outbox.stage(entry), outbox.stage(other)]);
      expect(stagedToo).toBe(staged);
      expect(await dedupe.claimStaged(entry.callback.dedupeKey, staged)).toBe(true);
      expect(await dedupe.claimStaged(other.callback.dedupeKey, staged)).toBe(true);
      if (how === "record") outbox.markDelivered(staged, entry.callback.dedupeKey);
      else dedupe.markStagedDelivered(entry.callback.dedupeKey, staged);
      await age(staged);
      await outbox.close(); // the process dies

      await recoverOnce(fx);

      expect(fx.receiver.requests.map((r) => r.headers["idempotency-key"])).toEqual([
        other.callback.idempotencyKey,
      ]);
      // The batch is gone, and its record with it.
      expect(stagedBatchFiles(fx.stateDir)).toEqual([]);
      expect(existsSync(`${staged}.delivered`)).toBe(false);
      // Still claimed: a late idle of the delivered run is deduped.
      expect(await dedupe.isClaimed(entry.callback.dedupeKey)).toBe(true);
    });
  }

  it("removes a delivered record a crash left after its batch's staged name went, and keeps a live batch's", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const { outbox, dedupe, entry } = crashState(fx, "orphan2");
    const live = entryFor(fx, "live2");
    // Each staged with a batch-mate still in flight, so that delivering it writes a line.
    const stagedWith = async (e: OutboxEntry, mate: string) => {
      const [path] = await Promise.all([outbox.stage(e), outbox.stage(entryFor(fx, mate))]);
      expect(await dedupe.claimStaged(e.callback.dedupeKey, path as string)).toBe(true);
      outbox.markDelivered(path as string, e.callback.dedupeKey);
      return path as string;
    };
    // Delivered from its batch; the crash came between removing the staged name and its record.
    const gone = await stagedWith(entry, "mate2");
    await rm(gone);
    // Delivered from a batch a live accept still has staged (not recovery's to take).
    const kept = await stagedWith(live, "mate3");
    expect(kept).not.toBe(gone);

    await recoverOnce(fx);

    expect(existsSync(`${gone}.delivered`)).toBe(false);
    expect(existsSync(`${kept}.delivered`)).toBe(true);
    expect(existsSync(kept)).toBe(true);
    expect(fx.receiver.requests).toHaveLength(0);
    expect(await dedupe.isClaimed(entry.callback.dedupeKey)).toBe(true);
    expect(await dedupe.isClaimed(live.callback.dedupeKey)).toBe(true);
    await outbox.close();
  });

  it("removes a `.delivered` link a crash left after its batch's staged name went, and keeps a live batch's", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const { outbox, dedupe, entry } = crashState(fx, "orphan1");
    const live = entryFor(fx, "live1");
    const deliveredOf = (e: OutboxEntry) =>
      join(fx.stateDir, "dedupe", `${markerName(e.callback.dedupeKey)}.delivered`);
    // Delivered from its batch; the crash came between removing the staged name and the link.
    const gone = await outbox.stage(entry);
    expect(await dedupe.claimStaged(entry.callback.dedupeKey, gone)).toBe(true);
    dedupe.markStagedDelivered(entry.callback.dedupeKey, gone);
    await rm(gone);
    // Delivered from a batch a live accept still has staged (young: not recovery's to take).
    const kept = await outbox.stage(live);
    expect(kept).not.toBe(gone);
    expect(await dedupe.claimStaged(live.callback.dedupeKey, kept)).toBe(true);
    dedupe.markStagedDelivered(live.callback.dedupeKey, kept);

    await recoverOnce(fx);

    expect(existsSync(deliveredOf(entry))).toBe(false);
    expect(existsSync(deliveredOf(live))).toBe(true);
    expect(fx.receiver.requests).toHaveLength(0);
    // The claims stay: a late idle of either run is deduped.
    expect(await dedupe.isClaimed(entry.callback.dedupeKey)).toBe(true);
    expect(await dedupe.isClaimed(live.callback.dedupeKey)).toBe(true);
  });

  it("discards a staged callback whose claim was lost to another process, sending nothing for it", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const { outbox, dedupe, entry } = crashState(fx, "lost1");
    const winner = await outbox.stage(entry);
    const loser = await outbox.stage(entry);
    expect(await dedupe.claimStaged(entry.callback.dedupeKey, winner)).toBe(true);
    expect(await dedupe.claimStaged(entry.callback.dedupeKey, loser)).toBe(false);
    // The winner got as far as promoting and delivering; only the loser's file was left behind.
    await outbox.promote(winner, entry.callback.dedupeKey);
    await outbox.remove(entry.callback.dedupeKey);
    await age(loser);
    await outbox.close(); // the process dies

    const relay = createRelay({
      config: fx.config,
      instance: INSTANCE,
      audit: fx.audit,
      stateDir: fx.stateDir,
    });
    await relay.recover();
    await relay.drain();
    await relay.close();

    expect(fx.receiver.requests).toHaveLength(0);
    expect(stagedBatchFiles(fx.stateDir)).toEqual([]);
  });

  it("leaves a young staged file alone: it may belong to an accept in progress elsewhere", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const { outbox, dedupe, entry } = crashState(fx, "young1");
    const staged = await outbox.stage(entry);
    await dedupe.claimStaged(entry.callback.dedupeKey, staged);

    const relay = createRelay({
      config: fx.config,
      instance: INSTANCE,
      audit: fx.audit,
      stateDir: fx.stateDir,
    });
    await relay.recover();
    await relay.drain();
    await relay.close();

    expect(fx.receiver.requests).toHaveLength(0);
    expect(stagedBatchFiles(fx.stateDir)).toHaveLength(1);
  });

  /**
   * Stage and claim `runId`'s callback in a batch whose name says another writer wrote it (the
   * writer part of the name, `<pid>_<start time>_<boot id>`, as `writer` rewrites it), young; recover
   * once: sent at once, once, and the batch gone.
   */
  async function recoveredAtOnceWhenWrittenBy(runId: string, writer: (own: string) => string) {
    fixture = await relayFixture();
    const fx = fixture;
    const { outbox, dedupe, entry } = crashState(fx, runId);
    const mine = await outbox.stage(entry);
    const parts = basename(mine).split(".");
    parts[2] = writer(parts[2] ?? "");
    const staged = join(dirname(mine), parts.join("."));
    await rename(mine, staged);
    expect(await dedupe.claimStaged(entry.callback.dedupeKey, staged)).toBe(true);

    await recoverOnce(fx);

    expect(fx.receiver.requests).toHaveLength(1);
    expect(fx.receiver.requests[0]?.headers["idempotency-key"]).toBe(entry.callback.idempotencyKey);
    expect(stagedBatchFiles(fx.stateDir)).toEqual([]);
  }

  it("recovers at once a young staged callback whose process on this host has died (a quick restart)", async () => {
    // A process that has since exited, named by its bare pid (as older versions name batches).
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    await recoveredAtOnceWhenWrittenBy("quick1", () => String(dead));
  });

  it("recovers at once a young staged callback whose pid now names another process (reused)", async () => {
    // The same boot, a pid that runs now (this process's parent) but was started at another time.
    await recoveredAtOnceWhenWrittenBy("reused1", (own) => {
      const [, , boot] = own.split("_");
      expect(boot).toMatch(/^[0-9a-f-]{36}$/);
      return `${process.ppid}_1_${boot}`;
    });
  });
});
