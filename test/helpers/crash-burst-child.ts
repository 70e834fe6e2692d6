import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { join, relative } from "node:path";
import { openAuditLog } from "../../relay/audit/audit-log.ts";
import type { TerminalRun } from "../../relay/callback/terminal-run.ts";
import { configSchema } from "../../relay/config/config-schema.ts";
import { createRelay } from "../../relay/core/create-relay.ts";
import { markerName } from "../../relay/state/dedupe-store.ts";
import { entryLines } from "../../relay/state/entry-lines.ts";
import { buildTitle } from "../../relay/title/build-title.ts";
import { fileHandlePrototype } from "./replace-fs-calls.ts";

/**
 * A relay in its own process, for crash tests (test/relay/core/relay-crash-mid-batch.test.ts),
 * bundled by the test and run as `node crash-burst-child.mjs`. Input as JSON in CRASH_CHILD_INPUT.
 *
 * - `mode: "burst"`: submit `runs` runs at once and drain. With `killAt`, the process SIGKILLs
 *   itself at the `killAt`-th file operation of a batch commit (writing, fsyncing, linking or
 *   removing a staged batch, fsyncing the outbox folder), synchronous or not: before it starts, or
 *   (`killAfter`) right after it completed. Nothing is faked: every operation runs for real; the child only counts.
 * - `mode: "lone"`: the same, but each run submitted once the one before is delivered, as runs end
 *   one by one in OpenCode: each is staged alone, mostly into the batch file made ahead for it
 *   (relay/state/spare-file.ts), whose making and filling are batch-commit operations too.
 * - `mode: "recover"`: a fresh relay on the same state dir recovers, then sees every run again (as
 *   the plugin's journal would resubmit runs it has not seen claimed), and drains.
 *
 * Each delivered callback forgotten (its pending outbox entry removed, or, delivered straight from
 * its staged batch, its line written to the batch's delivered record, its `.delivered` link made or
 * the batch itself removed) is written to stdout synchronously as `forgot <pending entry's file
 * name>`, so the parent knows it even after a SIGKILL.
 */
export interface CrashChildInput {
  mode: "burst" | "lone" | "recover";
  url: string;
  stateDir: string;
  auditPath: string;
  runs: number;
  killAt?: number;
  killAfter?: boolean;
  /**
   * Write a lone callback's spare on the flusher's thread (relay/state/flusher.ts), where the kill
   * points, counted on this thread, cannot land. @default false: on this thread, where they can.
   */
  flusher?: boolean;
  /**
   * Never promote a callback whose first attempt is still in flight (PROMOTE_AFTER_MS), nor rescan:
   * the test that kills the child mid-attempt then finds the callback staged, never pending.
   * @default false
   */
  neverPromote?: boolean;
  /**
   * SIGKILL at the `nth` write of a line to a batch's delivered record (`record-line`), before it
   * or (`after`) right after it; or right after the `nth` removal of a staged batch that has a
   * record (`batch-gone`), which leaves that record without its batch. Counted apart from killAt.
   */
  killOn?: { op: "record-line" | "batch-gone"; nth: number; after?: boolean };
}

/** The run the children submit as number `i`; its dedupe key is `ses_burst-<i>|burst-<i>`. */
function crashRun(i: number): TerminalRun {
  const runId = `burst-${i}`;
  const title = buildTitle(`task ${runId}`, { runId, callbackSession: "agent:main:main" });
  return {
    sessionId: `ses_${runId}`,
    pinnedTitle: title,
    currentTitle: title,
    outcome: "completed",
    agentRan: "build",
    summary: "All done. ".repeat(200),
    filesChanged: [],
    startedAt: 1_000,
    endedAt: 4_000,
  };
}

/** Not a secret anyone uses: the children's bearer token. */
const TOKEN = "tok-crash-child";
const INSTANCE = { projectId: "proj-1", worktree: "/srv/proj", directory: "/srv/proj" };
const input = JSON.parse(process.env.CRASH_CHILD_INPUT ?? "{}") as CrashChildInput;
const stagedDir = join(input.stateDir, "outbox", "staged");
const outboxDir = join(input.stateDir, "outbox");

/** Whether an operation on `path` is part of committing a batch. */
const inBatch = (path: unknown) =>
  typeof path === "string" && (path.startsWith(stagedDir) || path === outboxDir || path === `${outboxDir}/`);

let count = 0;
/**
 * Count one batch-commit operation; die before it (or after it, with killAfter: once it returned
 * or threw, for an operation that fails, such as an unlink of a name already gone, has run too).
 */
async function counted<T>(isBatchOp: boolean, op: () => Promise<T>): Promise<T> {
  const mine = isBatchOp ? ++count : 0;
  if (mine > 0 && mine === input.killAt && !input.killAfter) process.kill(process.pid, "SIGKILL");
  try {
    return await op();
  } finally {
    if (mine > 0 && mine === input.killAt && input.killAfter) process.kill(process.pid, "SIGKILL");
  }
}

/** counted() for a synchronous call. */
function countedSync<T>(isBatchOp: boolean, op: () => T): T {
  const mine = isBatchOp ? ++count : 0;
  if (mine > 0 && mine === input.killAt && !input.killAfter) process.kill(process.pid, "SIGKILL");
  try {
    return op();
  } finally {
    if (mine > 0 && mine === input.killAt && input.killAfter) process.kill(process.pid, "SIGKILL");
  }
}

/** Descriptors of staged batch files, however opened (a spare's is written with synchronous calls). */
const batchFds = new Set<number>();
/** Those of them that are a batch's delivered record (`<batch>.delivered`). */
const recordFds = new Set<number>();

/** killOn's count so far. */
let killOnCount = 0;
/** Die if this is killOn's operation `op`, at the point (`after` it or not) it asks. */
function killOn(op: "record-line" | "batch-gone", after: boolean): void {
  const wanted = input.killOn;
  if (wanted === undefined || wanted.op !== op || (wanted.after ?? false) !== after) return;
  if (++killOnCount === wanted.nth) process.kill(process.pid, "SIGKILL");
}

/** Say the callbacks a line written to a delivered record names were forgotten. */
function noteRecorded(data: unknown): void {
  for (const name of String(data).split("\n"))
    if (/^[0-9a-f]{64}$/.test(name)) fs.writeSync(1, `forgot ${name}.json\n`);
}

/** Say a pending outbox entry was removed (a delivered callback forgotten). */
function noteForgotten(path: unknown): void {
  const name = relative(outboxDir, String(path));
  if (!name.includes("/") && name.endsWith(".json")) fs.writeSync(1, `forgot ${name}\n`);
}

/**
 * The synchronous calls the relay makes on a batch (it writes and fsyncs a staged batch, links its
 * claims, leases and pending names, and removes them, with synchronous calls): counted like the
 * asynchronous ones. A staged batch's descriptor is followed from its open to its close.
 */
function instrumentSync(): void {
  const sync = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = { ...sync };
  const call = (name: string, args: unknown[]) => (original[name] as (...a: unknown[]) => unknown)(...args);
  sync.openSync = (path, ...rest) =>
    countedSync(inBatch(path), () => {
      const fd = call("openSync", [path, ...rest]) as number;
      if (inBatch(path)) batchFds.add(fd);
      if (inBatch(path) && String(path).endsWith(".delivered")) recordFds.add(fd);
      return fd;
    });
  sync.linkSync = (from, to) => {
    const result = countedSync(inBatch(from), () => call("linkSync", [from, to]));
    // A callback delivered straight from its staged batch is forgotten by this link.
    const name = String(to).split("/").at(-1) ?? "";
    if (name.endsWith(".delivered")) fs.writeSync(1, `forgot ${name.replace(/\.delivered$/, ".json")}\n`);
    return result;
  };
  /** The marker names of the callbacks a staged batch holds, read without counting it. */
  const heldBy = (path: string): string[] => {
    let text: string;
    try {
      const fd = call("openSync", [path, "r"]) as number;
      try {
        text = call("readFileSync", [fd, "utf8"]) as string;
      } finally {
        call("closeSync", [fd]);
      }
    } catch {
      return [];
    }
    return (entryLines(text) ?? []).map((entry) => markerName(entry.callback.dedupeKey));
  };
  sync.unlinkSync = (path) => {
    const batch = String(path).endsWith(".json") && inBatch(path);
    const recorded = batch && fs.existsSync(`${String(path)}.delivered`);
    const held = batch ? heldBy(String(path)) : [];
    const result = countedSync(inBatch(path), () => {
      const done = call("unlinkSync", [path]);
      // With the batch gone, a callback of it not promoted to a pending entry is forgotten: one
      // delivered straight from it (a lone callback's batch goes at its delivery, with no line).
      for (const name of held)
        if (!fs.existsSync(join(outboxDir, `${name}.json`))) fs.writeSync(1, `forgot ${name}.json\n`);
      return done;
    });
    noteForgotten(path);
    if (recorded) killOn("batch-gone", true);
    return result;
  };
  for (const name of ["writeFileSync", "fsyncSync", "writeSync", "fdatasyncSync"]) {
    sync[name] = (target, ...rest) => {
      const line = name === "writeSync" && typeof target === "number" && recordFds.has(target);
      if (line) killOn("record-line", false);
      const result = countedSync(typeof target === "number" && batchFds.has(target), () =>
        call(name, [target, ...rest]),
      );
      // A line in a delivered record forgets its callback once written (the kill may land before).
      if (line) {
        noteRecorded(rest[0]);
        killOn("record-line", true);
      }
      return result;
    };
  }
  sync.closeSync = (fd) => {
    if (typeof fd === "number") recordFds.delete(fd);
    return countedSync(typeof fd === "number" && batchFds.delete(fd), () => call("closeSync", [fd]));
  };
}

async function instrument(): Promise<void> {
  instrumentSync();
  const promises = fs.promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const batchHandles = new WeakSet<object>();
  const original = { ...promises };
  promises.open = (path, ...rest) =>
    counted(inBatch(path), async () => {
      const handle = (await original.open?.(path, ...rest)) as { fd: number };
      if (inBatch(path)) {
        batchHandles.add(handle);
        batchFds.add(handle.fd);
      }
      return handle;
    });
  promises.link = (from, to) => counted(inBatch(from), () => original.link?.(from, to) as Promise<unknown>);
  promises.unlink = async (path) => {
    const result = await counted(inBatch(path), () => original.unlink?.(path) as Promise<unknown>);
    noteForgotten(path);
    return result;
  };
  syncBuiltinESMExports();
  const proto = await fileHandlePrototype();
  for (const method of ["writeFile", "sync", "close"]) {
    const real = proto[method] as (...args: unknown[]) => Promise<unknown>;
    proto[method] = function (this: object, ...args: unknown[]) {
      const mine = batchHandles.has(this);
      if (mine && method === "close") batchFds.delete((this as { fd: number }).fd);
      return counted(mine, () => real.apply(this, args));
    };
  }
}

async function main(): Promise<void> {
  await instrument();
  const config = configSchema.parse({
    target: { url: `${input.url}/hooks`, token: TOKEN },
    callbackSessionPrefixes: ["agent:main:"],
    delivery: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  const audit = openAuditLog({ path: input.auditPath, secrets: [TOKEN] });
  const relay = createRelay({
    config,
    instance: INSTANCE,
    audit,
    stateDir: input.stateDir,
    ...(input.flusher === true ? {} : { flushWaitMs: false }),
    ...(input.neverPromote === true ? { leases: { schedule: () => () => undefined } } : {}),
  });
  const runs = Array.from({ length: input.runs }, (_, i) => crashRun(i));
  if (input.mode === "recover") await relay.recover();
  if (input.mode === "lone") {
    relay.prepare();
    for (const run of runs) {
      relay.submit(run);
      await relay.drain();
    }
  } else for (const run of runs) relay.submit(run);
  await relay.drain();
  await relay.close();
  await audit.flush();
  fs.writeSync(1, `done ${count}\n`);
}

if (process.env.CRASH_CHILD_INPUT !== undefined) {
  await main();
  process.exit(0);
}
