import { readdirSync } from "node:fs";
import { mkdtemp, readdir, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { idempotencyKey } from "../../../relay/callback/idempotency-key.ts";
import { createRelay, type Relay } from "../../../relay/core/create-relay.ts";
import { OUTBOX_RESCAN_MS } from "../../../relay/core/recover-outbox.ts";
import { bundleForChild } from "../../helpers/bundle-for-child.ts";
import type { CrashChildInput } from "../../helpers/crash-burst-child.ts";
import { type ManualTime, manualTime } from "../../helpers/manual-time.ts";
import { INSTANCE, phase, type RelayFixture, relayFixture } from "../../helpers/relay-fixture.ts";
import { runNodeChild } from "../../helpers/run-node-child.ts";

/**
 * Two relays on one state dir (two OpenCode processes on the same data), one of them a child
 * process whose callback's first attempt is in flight: staged and claimed, not yet in the outbox
 * (it never promotes). If it dies, the other relay, still running, must send that callback at its
 * next look at the outbox, once and with its key, not leave it stranded until some relay starts;
 * while it lives, however long its attempt takes, neither that look nor a relay starting beside
 * it may send it too.
 */

let fixture: RelayFixture | undefined;
let relay: Relay | undefined;
let tmp: string;
let child: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "ocr-staged-dies-"));
  child = await bundleForChild("test/helpers/crash-burst-child.ts", tmp);
  return () => rm(tmp, { recursive: true, force: true });
});

/** Children started and not yet seen to end: a failed case stops them (by pid) before cleaning up. */
const children = new Set<number>();

afterEach(async () => {
  for (const pid of children) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Ended already.
    }
  }
  children.clear();
  await relay?.close();
  relay = undefined;
  await fixture?.cleanup();
  fixture = undefined;
});

/** The pid in a staged batch's name (`<first>.<host>.<pid>_<start time>_<boot id>.<nonce>.json`). */
const writerOf = (name: string) => Number.parseInt(name.split(".")[2] ?? "", 10);

const stagedDirOf = (fx: RelayFixture) => join(fx.stateDir, "outbox", "staged");
const pendingOf = async (fx: RelayFixture) =>
  (await readdir(join(fx.stateDir, "outbox"))).filter((name) => name.endsWith(".json"));

/** The fixture's relay, its rescans driven by `time` when given; recover() done. */
async function runningRelay(fx: RelayFixture, time?: ManualTime): Promise<Relay> {
  relay = createRelay({
    config: fx.config,
    instance: INSTANCE,
    audit: fx.audit,
    stateDir: fx.stateDir,
    random: () => 0.5,
    ...(time === undefined ? {} : { leases: { schedule: time.schedule.bind(time) } }),
  });
  await relay.recover();
  return relay;
}

/** Start the child relay on the fixture's state dir: one run, never promoted while in flight. */
function startChild(fx: RelayFixture) {
  const input: CrashChildInput = {
    mode: "lone",
    url: fx.receiver.url,
    stateDir: fx.stateDir,
    auditPath: join(fx.dir, "child.audit.jsonl"),
    runs: 1,
    neverPromote: true,
  };
  let pid = 0;
  return runNodeChild(child, { CRASH_CHILD_INPUT: JSON.stringify(input) }, 60_000, (spawned) => {
    pid = spawned;
    children.add(pid);
  }).finally(() => children.delete(pid));
}

/**
 * The child's first attempt held by the receiver until release(), its staged files made to look a
 * minute old (past the age at which a bare pid's batch is taken): an attempt in flight that long.
 */
async function childMidAttemptForAMinute(fx: RelayFixture) {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  fx.receiver.respondWith(() => ({ status: 200, hold: held }));
  const ended = startChild(fx);
  await fx.receiver.waitFor(1);
  const minuteAgo = new Date(Date.now() - 60_000);
  for (const name of await readdir(stagedDirOf(fx))) {
    if (writerOf(name) !== process.pid) await utimes(join(stagedDirOf(fx), name), minuteAgo, minuteAgo);
  }
  return { release, ended };
}

describe("a relay that dies mid first attempt, while another relay runs", () => {
  it("leaves its staged callback to the running relay's next look: sent once, same key, no restart", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const stagedDir = stagedDirOf(fx);
    const time = manualTime(Date.now());
    const running = await runningRelay(fx, time);

    // The child's request arrives: it is killed right there, its attempt unanswered.
    let killed: number | undefined;
    fx.receiver.respondWith((_request, index) => {
      if (index > 0) return { status: 200 };
      const pids = readdirSync(stagedDir)
        .map(writerOf)
        .filter((pid) => pid !== process.pid);
      killed = pids[0];
      if (killed !== undefined) process.kill(killed, "SIGKILL");
      return { status: 200, hold: new Promise(() => undefined) };
    });
    const end = await startChild(fx);
    expect(end.signal).toBe("SIGKILL");
    expect(killed).toBeGreaterThan(0);
    // What it left: its batch, staged and claimed; nothing pending.
    const left = (await readdir(stagedDir)).filter((name) => writerOf(name) === killed);
    expect(left.length).toBeGreaterThan(0);
    expect(await pendingOf(fx)).toEqual([]);
    expect(fx.receiver.requests).toHaveLength(1);

    time.advance(OUTBOX_RESCAN_MS);
    await fx.receiver.waitFor(2);
    await running.drain();

    const [first, second] = fx.receiver.requests;
    expect(fx.receiver.requests).toHaveLength(2);
    expect(second?.headers["idempotency-key"]).toBe(idempotencyKey("ses_burst-0|burst-0"));
    expect(second?.headers["idempotency-key"]).toBe(first?.headers["idempotency-key"]);
    const records = await fx.records();
    expect(phase(records, "recovered")).toHaveLength(1);
    expect(phase(records, "delivered")).toHaveLength(1);
    // Its batch is gone with it, and a later look sends nothing more.
    expect((await readdir(stagedDir)).filter((name) => writerOf(name) === killed)).toEqual([]);
    time.advance(OUTBOX_RESCAN_MS);
    await running.drain();
    expect(fx.receiver.requests).toHaveLength(2);
  });

  it("leaves alone the old staged batch of a relay that still runs: its attempt is its own, never sent twice", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const time = manualTime(Date.now());
    const running = await runningRelay(fx, time);
    const { release, ended } = await childMidAttemptForAMinute(fx);

    time.advance(OUTBOX_RESCAN_MS);
    await running.drain();
    expect(fx.receiver.requests).toHaveLength(1);
    expect(await pendingOf(fx)).toEqual([]);

    release();
    const end = await ended;
    expect(end.code).toBe(0);
    expect(fx.receiver.requests).toHaveLength(1);
  });

  it("is not taken by a relay starting beside it while its attempt has run a minute: sent once, by it", async () => {
    fixture = await relayFixture();
    const fx = fixture;
    const { release, ended } = await childMidAttemptForAMinute(fx);

    const starting = await runningRelay(fx);
    await starting.drain();
    expect(fx.receiver.requests).toHaveLength(1);

    release();
    expect((await ended).code).toBe(0);
    expect(fx.receiver.requests).toHaveLength(1);
  });
});
