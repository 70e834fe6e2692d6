import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import type { AuditInput } from "../../../relay/audit/audit-record.ts";
import { buildCallback } from "../../../relay/callback/build-callback.ts";
import { createRelay, type Relay, type RelayOptions } from "../../../relay/core/create-relay.ts";
import { forgetDelivered } from "../../../relay/delivery/forget-delivered.ts";
import { checkIntegrity } from "../../../relay/integrity/check-integrity.ts";
import { markerName, openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";
import { manualTime } from "../../helpers/manual-time.ts";
import { stagedBatchFiles } from "../../helpers/pending-outbox-files.ts";
import type { Responder } from "../../helpers/recording-receiver.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";
import { mountSmallTmpfs, type SmallTmpfs } from "../../helpers/small-tmpfs.ts";

/**
 * The state dir on a real, small tmpfs that fills up (issue 9 item 4): no callback delivered with a
 * 2xx is sent again after a restart, whatever could not be written; where nothing at all can be
 * written, the audit says so with a code. The audit log stays on the ordinary disk.
 */

let fixture: RelayFixture | undefined;
let disk: SmallTmpfs | undefined;
let auditDisk: SmallTmpfs | undefined;
const relays: Relay[] = [];
afterEach(async () => {
  try {
    for (const relay of relays.splice(0)) await relay.close();
    await fixture?.cleanup();
  } finally {
    await disk?.unmount();
    await auditDisk?.unmount();
    disk = auditDisk = undefined;
    fixture = undefined;
  }
});

async function setup(responder?: Responder) {
  disk = await mountSmallTmpfs();
  fixture = await relayFixture(responder ? { responder } : {});
  return { fx: fixture, disk, stateDir: join(disk.dir, "state") };
}

function newRelay(stateDir: string, extra: Partial<RelayOptions> = {}): Relay {
  if (!fixture) throw new Error("setup first");
  const relay = createRelay({
    config: fixture.config,
    instance: INSTANCE,
    audit: fixture.audit,
    stateDir,
    ...extra,
  });
  relays.push(relay);
  return relay;
}

/** A restart: a fresh relay recovers the state dir and sees the run again (as the run journal would). */
async function restart(stateDir: string, runId: string): Promise<void> {
  const relay = newRelay(stateDir);
  await relay.recover();
  relay.submit(makeRun(runId));
  await relay.drain();
}

describe("a full state dir never doubles a delivered callback", () => {
  it("fills between attempts: the 2xx still forgets the outbox entry, a restart sends nothing", async () => {
    const { fx, disk, stateDir } = await setup((_r, i) => {
      if (i === 0) disk.fillData(); // the disk fills while the first attempt is out
      return { status: i === 0 ? 503 : 200 };
    });
    const time = manualTime();
    const first = newRelay(stateDir, { now: time.now, schedule: time.schedule.bind(time) });
    first.submit(makeRun("full1"));
    await first.drain();
    expect(phase(await fx.records(), "state_error")[0]).toMatchObject({ code: "STATE_UNWRITABLE" });
    time.advance(60_000);
    await first.drain();
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
    await first.close();

    await restart(stateDir, "full1");
    await disk.free();
    await restart(stateDir, "full1");

    expect(fx.receiver.requests).toHaveLength(2);
    const records = await fx.records();
    expect(phase(records, "recovered")).toEqual([]);
    expect(phase(records, "delivered")).toHaveLength(1);
    expect(phase(records, "deduped")).toHaveLength(2);
  });

  it.each([
    ["still full", false],
    ["freed", true],
  ])(
    "a run accepted with the disk already full is not sent again after a restart (disk %s)",
    async (_label, freeIt) => {
      const { fx, disk, stateDir } = await setup();
      disk.fillData();
      const relay = newRelay(stateDir);
      relay.submit(makeRun("full2"));
      await relay.drain();
      await relay.close();
      const accepted = phase(await fx.records(), "accepted")[0];
      expect(accepted).toMatchObject({ durable: false });
      expect(phase(await fx.records(), "delivered")).toHaveLength(1);

      if (freeIt) await disk.free();
      await restart(stateDir, "full2");

      expect(fx.receiver.requests).toHaveLength(1);
      expect(phase(await fx.records(), "deduped")).toHaveLength(1);
    },
  );

  it("delivered straight from its batch once the disk is full: the batch's record cannot take the line, a link says it, and a crash then sends nothing again", async () => {
    const { fx, disk, stateDir } = await setup();
    // Two callbacks staged and claimed in one batch, as an accept leaves them.
    const outbox = openOutbox(stateDir);
    const dedupe = openDedupeStore(stateDir);
    const [done, other] = ["full6", "full7"].map((runId) => {
      const verdict = checkIntegrity(makeRun(runId), INSTANCE, fx.config);
      if (!verdict.ok) throw verdict.error;
      const callback = buildCallback(makeRun(runId), verdict, Date.now());
      return { v: 1 as const, callback, attempts: 0, dueAt: callback.acceptedAt };
    }) as [OutboxEntry, OutboxEntry];
    const [batch, batchToo] = await Promise.all([outbox.stage(done), outbox.stage(other)]);
    expect(batchToo).toBe(batch);
    for (const e of [done, other]) expect(await dedupe.claimStaged(e.callback.dedupeKey, batch)).toBe(true);

    // The first is delivered after the disk filled: a line needs a data block, a link only a name.
    disk.fillData();
    const said: AuditInput[] = [];
    const item = { entry: done, lease: null, durable: true, stagedPath: batch };
    await forgetDelivered(item, { outbox, dedupe, record: async (input) => void said.push(input) });
    expect(said).toEqual([]); // no STATE_DELIVERED_UNMARKED: it is marked
    expect(await dedupe.deliveredFrom(done.callback.dedupeKey, batch)).toBe(true);
    expect(existsSync(batch)).toBe(true); // its batch-mate is still in flight
    await outbox.close(); // the process dies
    await disk.free();

    // A restart sends the one still in flight, not the one delivered.
    await restart(stateDir, "full7");
    expect(fx.receiver.requests.map((r) => r.headers["idempotency-key"])).toEqual([
      other.callback.idempotencyKey,
    ]);
  });

  it("a run staged into the batch file made before the disk filled is durable, and sent once", async () => {
    const { fx, disk, stateDir } = await setup();
    const relay = newRelay(stateDir);
    relay.prepare(); // as the plugin does when a tagged run starts: folders, and the spare batch file
    await relay.drain();
    disk.fillData();
    relay.submit(makeRun("full5"));
    await relay.drain();
    await relay.close();
    const records = await fx.records();
    expect(phase(records, "accepted")[0]).toMatchObject({ durable: true });
    expect(phase(records, "state_error")).toEqual([]);
    expect(phase(records, "delivered")).toHaveLength(1);

    await restart(stateDir, "full5");
    expect(fx.receiver.requests).toHaveLength(1);
    expect(phase(await fx.records(), "deduped")).toHaveLength(1);
  });

  it("batches too large for the batch file made before: the flusher's thread says ENOSPC, each is sent once", async () => {
    const { fx, disk, stateDir } = await setup();
    // 40,000 characters kept per summary: each callback's batch is larger than the spare (32 KiB).
    const config = { ...fx.config, summaryMaxChars: 40_000 };
    const relay = newRelay(stateDir, { config });
    relay.prepare(); // the folders, the spare and the flusher's thread, as the plugin does
    await relay.drain();
    disk.fillData();
    const big = (runId: string) => makeRun(runId, { run: { summary: "x".repeat(40_000) } });
    // The first from the caller's stack (waited for up to a few ms), the next two group-committed
    // into one batch (not waited for): both fail on the flusher's thread.
    for (const runId of ["bigA", "bigB", "bigC"]) relay.submit(big(runId));
    await relay.drain();
    await relay.close();
    const records = await fx.records();
    const accepted = phase(records, "accepted").map((r) => [r.runId, r.durable]);
    expect(accepted.sort()).toEqual([
      ["bigA", false],
      ["bigB", false],
      ["bigC", false],
    ]);
    const errors = phase(records, "state_error");
    expect(errors.map((r) => r.runId).sort()).toEqual(["bigA", "bigB", "bigC"]);
    for (const error of errors) {
      expect(error).toMatchObject({ code: "STATE_UNWRITABLE", details: { errno: "ENOSPC" } });
      expect(error.reason).toContain("(ENOSPC)");
    }
    expect(phase(records, "delivered")).toHaveLength(3);
    expect(fx.receiver.requests).toHaveLength(3);
    // Nothing torn was left in staged/: the thread removed what it could not write whole.
    expect(stagedBatchFiles(stateDir)).toEqual([]);
  });

  it("nothing at all can be written: the callback is delivered and the audit says it may be sent again", async () => {
    const { fx, disk, stateDir } = await setup();
    disk.fillData();
    disk.fillInodes();
    const relay = newRelay(stateDir);
    relay.submit(makeRun("full3"));
    await relay.drain();

    expect(fx.receiver.requests).toHaveLength(1);
    const records = await fx.records();
    expect(phase(records, "delivered")).toHaveLength(1);
    const unmarked = records.filter((r) => r.code === "STATE_DELIVERED_UNMARKED");
    expect(unmarked).toHaveLength(1);
    expect(unmarked[0]).toMatchObject({ phase: "state_error", runId: "full3" });
  });

  it("nothing at all can be written, the audit log included: stderr says so with the code", async () => {
    const { fx, disk, stateDir } = await setup();
    disk.fillData();
    disk.fillInodes();
    // The audit log on a full disk of its own (data full: its lock folder can still be made).
    auditDisk = await mountSmallTmpfs();
    const audit = openAuditLog({ path: join(auditDisk.dir, "audit.jsonl") });
    auditDisk.fillData();
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const relay = newRelay(stateDir, { audit });
      relay.submit(makeRun("full4"));
      await relay.drain();
      await audit.flush();
    } finally {
      spy.mockRestore();
    }
    expect(fx.receiver.requests).toHaveLength(1);
    const lines = written
      .join("")
      .split("\n")
      .filter((line) => line.startsWith("{"));
    const codes = lines.map((line) => (JSON.parse(line) as { code?: string; phase?: string }).code);
    expect(codes).toContain("STATE_DELIVERED_UNMARKED");
  });

  it("a lease taken on a full disk is whole, never an empty file that blocks the entry", async () => {
    const { disk, stateDir } = await setup();
    const outbox = openOutbox(stateDir);
    await outbox.lease("s|warmup"); // the folders and the holder file exist
    disk.fillData();
    // A lease is a hard link to the holder file (outbox-lease.ts): it needs no data block, so a
    // full disk still gives a whole lease naming its holder, where an O_EXCL file could be left empty.
    const lease = await outbox.lease("s|full");
    expect(lease).not.toBeNull();
    const leaseFile = join(outbox.dir, `${markerName("s|full")}.lease`);
    expect(JSON.parse(await readFile(leaseFile, "utf8"))).toMatchObject({ v: 2 });
    await disk.free();
    const again = openOutbox(stateDir);
    expect(await again.lease("s|full")).toBeNull(); // held by a live keeper
    await lease?.release();
    expect(await again.lease("s|full")).not.toBeNull();
    await again.close();
    await outbox.close();
  });
});
