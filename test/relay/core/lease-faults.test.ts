import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, statSync } from "node:fs";
import { utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildCallback } from "../../../relay/callback/build-callback.ts";
import type { Callback } from "../../../relay/callback/callback.ts";
import { createRelay, type Relay, type RelayOptions } from "../../../relay/core/create-relay.ts";
import { OUTBOX_RESCAN_MS } from "../../../relay/core/recover-outbox.ts";
import { checkIntegrity } from "../../../relay/integrity/check-integrity.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import { LEASE_STALE_MS } from "../../../relay/state/outbox-lease.ts";
import { currentOwner, type ProcessOwner } from "../../../relay/state/process-owner.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import { manualTime } from "../../helpers/manual-time.ts";
import type { Responder } from "../../helpers/recording-receiver.ts";
import { INSTANCE, makeRun, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";

/**
 * Leases name their holder by owner (host, boot id, pid, process start time) and are renewed while
 * held (issue 9 item 3): a live holder is never broken, a dead one is taken over at once, and what
 * cannot be judged is left to its holder with a record, then taken over once it stops renewing.
 */

let fixture: RelayFixture | undefined;
const relays: Relay[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
  await fixture?.cleanup();
  fixture = undefined;
});

async function setup(responder?: Responder) {
  fixture = await relayFixture(responder ? { responder } : {});
  return fixture;
}

function newRelay(extra: Partial<RelayOptions> = {}): Relay {
  if (!fixture) throw new Error("setup first");
  const relay = createRelay({
    config: fixture.config,
    instance: INSTANCE,
    audit: fixture.audit,
    stateDir: fixture.stateDir,
    random: () => 0.5,
    ...extra,
  });
  relays.push(relay);
  return relay;
}

/** A process that runs until the test kills it, and its owner as a lease would name it. */
function liveProcess(): { pid: number; owner: ProcessOwner } {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  children.push(child);
  const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
  const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  return { pid: child.pid!, owner: { ...currentOwner(), pid: child.pid!, startTime } };
}

/** A pending outbox entry as a crashed relay left it, with `lease` as its lease file's content. */
async function leftPending(
  fx: RelayFixture,
  runId: string,
  lease: unknown,
): Promise<{ callback: Callback; leasePath: string }> {
  const run = makeRun(runId);
  const verdict = checkIntegrity(run, INSTANCE, fx.config);
  if (!verdict.ok) throw verdict.error;
  const callback = buildCallback(run, verdict, Date.now());
  const outbox = openOutbox(fx.stateDir);
  await outbox.put({ v: 1, callback, attempts: 1, dueAt: Date.now() - 1 });
  await outbox.close();
  const leasePath = join(fx.stateDir, "outbox", `${markerName(callback.dedupeKey)}.lease`);
  await writeFile(leasePath, JSON.stringify(lease));
  return { callback, leasePath };
}

async function recoverOnce(extra: Partial<RelayOptions> = {}): Promise<Relay> {
  const relay = newRelay(extra);
  await relay.recover();
  await relay.drain();
  return relay;
}

describe("leases: a reused pid", () => {
  it("takes over at once a lease naming a pid now held by a live process started at another time", async () => {
    const fx = await setup();
    const other = liveProcess();
    // The crashed holder had this pid before a container restart; a live process has it now.
    const stale = { ...other.owner, startTime: "1" };
    const { callback } = await leftPending(fx, "reuse1", { v: 2, owner: stale, holder: "gone", takenAt: 1 });
    await recoverOnce();

    expect(fx.receiver.requests).toHaveLength(1);
    expect(fx.receiver.requests[0]?.headers["idempotency-key"]).toBe(callback.idempotencyKey);
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
  });

  it("takes over a lease from another boot of this host, whatever its pid runs now", async () => {
    const fx = await setup();
    const owner = { ...liveProcess().owner, bootId: "a-boot-before-the-reboot" };
    await leftPending(fx, "reuse2", { v: 2, owner, holder: "gone", takenAt: 1 });
    await recoverOnce();
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
  });

  it("an old lease naming a bare pid a live process now holds: recorded while fresh, taken over once stale", async () => {
    const fx = await setup();
    const { pid } = liveProcess();
    const { leasePath } = await leftPending(fx, "reuse3", {
      pid,
      host: hostname(),
      holder: "old",
      at: Date.now(),
    });
    await recoverOnce();
    expect(fx.receiver.requests).toHaveLength(0);
    const held = (await fx.records()).filter((r) => r.code === "STATE_LEASE_HELD");
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ phase: "state_error", runId: "reuse3" });

    const past = new Date(Date.now() - LEASE_STALE_MS - 1_000); // never renewed since
    await utimes(leasePath, past, past);
    await recoverOnce();
    expect(fx.receiver.requests).toHaveLength(1);
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
  });
});

describe("leases: a live holder on this host", () => {
  it("is never broken, and one that stopped renewing is recorded, not left in silence", async () => {
    const fx = await setup();
    const { owner } = liveProcess();
    const { leasePath } = await leftPending(fx, "alive1", { v: 2, owner, holder: "h", takenAt: 1 });
    await recoverOnce();
    expect(fx.receiver.requests).toHaveLength(0);
    expect((await fx.records()).filter((r) => r.code === "STATE_LEASE_HELD")).toEqual([]);

    const past = new Date(Date.now() - 24 * 3600_000); // alive, but no renewal for a day
    await utimes(leasePath, past, past);
    await recoverOnce();
    expect(fx.receiver.requests).toHaveLength(0);
    const held = (await fx.records()).filter((r) => r.code === "STATE_LEASE_HELD");
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ phase: "state_error", runId: "alive1" });
  });
});

describe("leases: a dead holder", () => {
  it("is taken over at once, without waiting for any renewal age", async () => {
    const fx = await setup();
    const gone = liveProcess();
    children[0]!.kill("SIGKILL");
    await once(children[0]!, "exit");
    const { leasePath } = await leftPending(fx, "dead1", {
      v: 2,
      owner: gone.owner,
      holder: "g",
      takenAt: 1,
    });
    const now = new Date();
    await utimes(leasePath, now, now); // renewed a moment before it died
    await recoverOnce();
    expect(fx.receiver.requests).toHaveLength(1);
    expect(phase(await fx.records(), "delivered")).toHaveLength(1);
  });
});

describe("leases: a holder that dies while another relay runs", () => {
  it("is taken over by that relay's next look at the outbox, without a restart", async () => {
    const fx = await setup();
    const holder = liveProcess();
    await leftPending(fx, "dies1", { v: 2, owner: holder.owner, holder: "h", takenAt: 1 });
    const time = manualTime(Date.now());
    const relay = newRelay({ leases: { schedule: time.schedule.bind(time) } });
    await relay.recover();
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(0); // its holder lives

    children[0]!.kill("SIGKILL");
    await once(children[0]!, "exit");
    time.advance(OUTBOX_RESCAN_MS);
    await relay.drain();
    expect(fx.receiver.requests).toHaveLength(1);
    const records = await fx.records();
    expect(phase(records, "recovered")).toHaveLength(1);
    expect(phase(records, "delivered")).toHaveLength(1);
  });
});

describe("leases: a live holder on another host, retrying for more than an hour", () => {
  it("renews its lease, so another relay never breaks it: one delivery, by the holder", async () => {
    let busy = true;
    const fx = await setup(() =>
      busy ? { status: 503, headers: { "retry-after": "600" } } : { status: 200 },
    );
    const time = manualTime(Date.now());
    const clock = { now: time.now, schedule: time.schedule.bind(time) };
    // The holder is a real relay; only the host it names is another one (its pid cannot be asked).
    const elsewhere: ProcessOwner = { host: "another-host", pid: 4242, bootId: "b", startTime: "7" };
    const holder = newRelay({ ...clock, leases: { ...clock, owner: elsewhere } });
    holder.submit(makeRun("live1"));
    await holder.drain();
    const leasePath = await waitFor("the holder's lease", () => {
      const dir = join(fx.stateDir, "outbox");
      const name = `${markerName("ses_live1|live1")}.lease`;
      try {
        statSync(join(dir, name));
        return join(dir, name);
      } catch {
        return undefined;
      }
    });

    for (let minutes = 0; minutes < 120; minutes += 15) {
      time.advance(15 * 60_000); // a retry (every 10 min) and a renewal (every 15 s) fall due
      await holder.drain();
      await waitFor("the renewal", () =>
        Math.abs(statSync(leasePath).mtimeMs - time.now()) < 1 ? true : undefined,
      );
    }
    const other = await recoverOnce({ now: time.now, leases: { now: time.now } });
    await other.drain();
    expect(phase(await fx.records(), "recovered")).toEqual([]);
    const held = (await fx.records()).filter((r) => r.code === "STATE_LEASE_HELD");
    expect(held).toHaveLength(1);

    busy = false;
    time.advance(15 * 60_000);
    await holder.drain();
    const records = await fx.records();
    expect(phase(records, "delivered")).toHaveLength(1);
    expect(new Set(fx.receiver.requests.map((r) => r.headers["idempotency-key"])).size).toBe(1);
    expect(fx.receiver.requests.length).toBe(phase(records, "attempt").length);
  });
});
