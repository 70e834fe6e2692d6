import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyKey } from "../../../relay/callback/idempotency-key.ts";
import { markerName } from "../../../relay/state/dedupe-store.ts";
import { seededRandom } from "../../../scripts/dev/seeded-random.ts";
import { bundleForChild } from "../../helpers/bundle-for-child.ts";
import type { CrashChildInput } from "../../helpers/crash-burst-child.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../../helpers/recording-receiver.ts";
import { runNodeChild } from "../../helpers/run-node-child.ts";

/**
 * Group commit under SIGKILL: a child process runs a relay over a burst and kills itself at a
 * random file operation of a batch commit (writing or fsyncing a staged batch, linking a claim or a
 * pending entry to it, writing a line of its delivered record, removing it or its record, fsyncing
 * the outbox folder), before or right after it; three rounds aim at its delivered record. A fresh
 * process then recovers the state dir and sees every run again. Every run must reach the receiver,
 * always with its one idempotency key, and no callback the crashed process had already delivered
 * and forgotten may be sent again.
 */

const RUNS = 120;
const ROUNDS = 4;
let tmp: string;
let child: string;
let receiver: RecordingReceiver;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "ocr-crash-batch-"));
  child = await bundleForChild("test/helpers/crash-burst-child.ts", tmp);
  receiver = await startRecordingReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Run the child to its end; its stdout lines and how it ended. */
async function runChild(
  input: CrashChildInput,
): Promise<{ lines: string[]; signal: string | null; code: number | null }> {
  const end = await runNodeChild(child, { CRASH_CHILD_INPUT: JSON.stringify(input) });
  if (end.hung) throw new Error(`child ${input.mode} timed out: ${end.err.slice(-1000)}`);
  if (end.err.trim() !== "") process.stderr.write(`child ${input.mode}: ${end.err}\n`);
  return { lines: end.out.split("\n").filter(Boolean), signal: end.signal, code: end.code };
}

const keyOf = (i: number) => idempotencyKey(`ses_burst-${i}|burst-${i}`);
const fileOf = (i: number) => `${markerName(`ses_burst-${i}|burst-${i}`)}.json`;

describe("createRelay: SIGKILL while a batch is being committed", () => {
  const rounds: Array<{
    round: number;
    mode: "burst" | "lone";
    flusher: boolean;
    killOn?: CrashChildInput["killOn"];
  }> = [
    ...Array.from({ length: ROUNDS }, (_, round) => ({ round, mode: "burst" as const, flusher: false })),
    // Runs ending one by one: each staged alone, into the batch file made ahead for it; on this
    // thread (the kill can land between its write and its flush), and on the flusher's thread, as
    // OpenCode writes it (the kill lands while one is being written there, or around it).
    ...Array.from({ length: ROUNDS }, (_, round) => ({
      round: ROUNDS + round,
      mode: "lone" as const,
      flusher: false,
    })),
    ...Array.from({ length: 2 }, (_, round) => ({
      round: 2 * ROUNDS + round,
      mode: "lone" as const,
      flusher: true,
    })),
    // Around the delivered record of a batch that callbacks were delivered straight from: before
    // and right after a line of it, and with the batch removed but not yet its record.
    ...[
      { op: "record-line" as const, nth: 7, after: false },
      { op: "record-line" as const, nth: 7, after: true },
      { op: "batch-gone" as const, nth: 1, after: true },
    ].map((killOn, i) => ({ round: 2 * ROUNDS + 2 + i, mode: "burst" as const, flusher: false, killOn })),
  ];
  for (const { round, mode, flusher, killOn } of rounds) {
    const at =
      killOn === undefined ? "" : `, killed ${killOn.after ? "after" : "at"} ${killOn.op} ${killOn.nth}`;
    it(`round ${round} (${mode}${flusher ? ", flusher" : ""}${at}): every run delivered, none lost, nothing delivered sent again`, async () => {
      const random = seededRandom(0x5eed + round);
      const dir = await mkdtemp(join(tmp, `round-${round}-`));
      const stateDir = join(dir, "state");
      // One log per process: the crashed one's audit lock would hold the next one up for its
      // staleness time (10 s), which is the audit's concern, not this test's.
      const auditPath = (name: string) => join(dir, `${name}.audit.jsonl`);
      const first = receiver.requests.length;
      // Batch-commit operations for 120 runs number a few hundred: kill within the first ones.
      const killAt = 1 + Math.floor(random() * 150);
      const killAfter = random() < 0.5;

      const crashed = await runChild({
        mode,
        url: receiver.url,
        stateDir,
        auditPath: auditPath("crashed"),
        runs: RUNS,
        ...(killOn === undefined ? { killAt, killAfter } : { killOn }),
        flusher,
      });
      expect(crashed.signal).toBe("SIGKILL");
      const forgotten = new Set(crashed.lines.filter((l) => l.startsWith("forgot ")).map((l) => l.slice(7)));
      const beforeRecovery = receiver.requests.length;

      const recovered = await runChild({
        mode: "recover",
        url: receiver.url,
        stateDir,
        auditPath: auditPath("recovered"),
        runs: RUNS,
      });
      expect(recovered.code).toBe(0);

      const ours = receiver.requests.slice(first);
      const keys = ours.map((r) => String(r.headers["idempotency-key"]));
      const expected = new Set(Array.from({ length: RUNS }, (_, i) => keyOf(i)));
      // None lost: every run reached the receiver; nothing else did.
      expect(new Set(keys)).toEqual(expected);
      // Nothing delivered and forgotten by the crashed process was sent again.
      const afterCrash = receiver.requests
        .slice(beforeRecovery)
        .map((r) => String(r.headers["idempotency-key"]));
      const resentForgotten = Array.from({ length: RUNS }, (_, i) => i).filter(
        (i) => forgotten.has(fileOf(i)) && afterCrash.includes(keyOf(i)),
      );
      expect(resentForgotten).toEqual([]);
      // At most one send per process: the crashed one's, and a resend of one it had not forgotten.
      const perKey = new Map<string, number>();
      for (const key of keys) perKey.set(key, (perKey.get(key) ?? 0) + 1);
      expect(Math.max(...perKey.values())).toBeLessThanOrEqual(2);
      // Nothing left pending, staged or half-committed; one claim per run.
      const outbox = await readdir(join(stateDir, "outbox"));
      expect(outbox.filter((n) => n.endsWith(".json") || n.endsWith(".lease"))).toEqual([]);
      expect(await readdir(join(stateDir, "outbox", "staged"))).toEqual([]);
      expect(await readdir(join(stateDir, "dedupe"))).toHaveLength(RUNS);
      await rm(dir, { recursive: true, force: true });
    });
  }
});
