import type { AuditLog } from "../audit/index.ts";
import type { InstanceInfo, TerminalRun } from "../callback/index.ts";
import type { RelayConfig } from "../config/index.ts";
import { createDeliveryLoop, semaphore } from "../delivery/index.ts";
import { ERROR_CODES } from "../errors/index.ts";
import {
  type OutboxOptions,
  openDedupeStore,
  openOutbox,
  type Schedule,
  unrefTimeout,
} from "../state/index.ts";
import { acceptRun, readAnchor } from "./accept-run.ts";
import { backgroundWork } from "./background-work.ts";
import { noticeFailures } from "./notice-failures.ts";
import { OUTBOX_RESCAN_MS, recoverOutbox, rescanOutbox } from "./recover-outbox.ts";
import type { RelayState } from "./relay-state.ts";
import { unawaitedRecord } from "./unawaited-record.ts";
import { watchNudges } from "./watch-nudges.ts";

export interface RelayOptions {
  config: RelayConfig;
  instance: InstanceInfo;
  audit: AuditLog;
  /** Outbox and dedupe state (folders 0700, files 0600); several processes may share it. */
  stateDir: string;
  /** Injected for tests: epoch-ms clock. @default Date.now */
  now?: () => number;
  /** Injected for tests: run `fn` after `delayMs`, return a cancel function. @default an unref'd setTimeout */
  schedule?: Schedule;
  /** Injected for tests: uniform [0, 1) source for backoff jitter. @default Math.random */
  random?: () => number;
  /**
   * Called with a run's dedupe key once the relay has taken the run for good: claimed on disk,
   * deduped, or refused with an integrity record. The plugin retires the run's journal entry
   * then. Not called when the claim could not be written (the journal keeps the run). Must not throw.
   */
  onClaimed?: (dedupeKey: string) => void;
  /**
   * Where the one-line notice of each final failure goes (notice-failures.ts): OpenCode's output,
   * where people look. @default process.stderr.write
   */
  notify?: (line: string) => void;
  /**
   * How often to look for operators' nudges (`audit redeliver --now`) on callbacks this relay
   * holds, in ms (watch-nudges.ts). @default 2000 (2 s)
   */
  nudgePollMs?: number;
  /**
   * Injected for tests: the outbox leases' clock, the timer that renews them (and that looks again
   * for entries whose holder died, every OUTBOX_RESCAN_MS after recover()), and the owner they name.
   * @default { now: the relay's `now`, schedule: an unref'd setTimeout, owner: currentOwner() }
   */
  leases?: OutboxOptions;
  /**
   * How long submit() waits for a staged batch's write and flush on the flusher's thread before it
   * lets them finish off its stack (relay/state/flusher.ts); `false` writes them on its own stack,
   * however long they take.
   * @default FLUSH_WAIT_MS (5 ms)
   */
  flushWaitMs?: number | false;
}

export interface Relay {
  /**
   * Synchronous, never throws, never waits on the network: takes a terminal run. After a quiet
   * spell the run is staged, claimed and its first request handed to the transport on the caller's
   * stack (one small file written and fsynced, about a millisecond); otherwise, and for everything
   * after the request, the work happens off the caller's stack.
   */
  submit(run: TerminalRun): void;
  /**
   * Ready, off the caller's stack, what a run's first steps on the submitting stack need: the state
   * folders, and the audit head when this process has written no record yet. Call it when a run
   * begins (synchronous, O(1) after the first call, never throws): its end is then staged, claimed
   * and sent at once even if it is the first run of the process. Without it the first run's steps
   * wait for the folders to be made.
   */
  prepare(): void;
  /** Resolves when every submitted run is processed and no attempt is in flight (scheduled retries may remain). */
  drain(): Promise<void>;
  /** Resume callbacks left pending in the outbox (after a crash/restart); audited as `recovered`. Idempotent. */
  recover(): Promise<void>;
  /** Stop timers, close the HTTP dispatcher. Pending callbacks stay in the outbox. */
  close(): Promise<void>;
}

/**
 * Runs being accepted (integrity, stage, claim) at once: at most this many share one staged batch,
 * that is one file created and fsynced. 32 against 16: a burst of 1,000 in ~10% less time, its
 * event loop's longest delay ~3 ms longer (BENCHMARKS.md, section 11).
 */
const ACCEPT_CONCURRENCY = 32;

/**
 * The callback relay: integrity → dedupe claim → write-ahead outbox → delivery with retries, one
 * audit record per step (DESIGN.md "Terminal runs and dedupe", "Delivery"). The run is taken as
 * handed over (not copied): the caller must not mutate it afterwards. Nothing the relay does can
 * throw into, or wait on the network in, the OpenCode event hook that submits runs.
 *
 * This wires the concepts together: accepting a run (accept-run.ts), recovering the outbox
 * (recover-outbox.ts), both on one RelayState, and the background work drain() waits for.
 */
export function createRelay(options: RelayOptions): Relay {
  const { config, audit } = options;
  const now = options.now ?? Date.now;
  const { record: append, failed: appendFailed } = unawaitedRecord(audit);
  const record = noticeFailures(append, options.notify);
  const work = backgroundWork(record);
  // A state folder found open to others and tightened is said in the audit log (folders are
  // checked on first use, relay/state/lazy-dirs.ts).
  const folders = {
    onTightened: (dir: string) =>
      void record({
        phase: "warning",
        code: "STATE_FOLDER_TIGHTENED",
        reason: `the state folder ${dir} was writable by group or others; set to 0700`,
        hint: ERROR_CODES.STATE_FOLDER_TIGHTENED.hint,
        path: dir,
      }),
  };
  const outbox = openOutbox(options.stateDir, {
    ...folders,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...options.leases,
    ...(options.flushWaitMs === undefined ? {} : { flushWaitMs: options.flushWaitMs }),
  });
  const dedupe = openDedupeStore(options.stateDir, folders);
  const state: RelayState = {
    config,
    instance: options.instance,
    audit,
    now,
    dedupe,
    outbox,
    loop: createDeliveryLoop({
      config,
      outbox,
      dedupe,
      record,
      run: work.run,
      runNow: work.runNow,
      now,
      schedule: options.schedule ?? unrefTimeout,
      promoteSchedule: options.leases?.schedule ?? unrefTimeout,
      ...(options.random ? { random: options.random } : {}),
    }),
    claims: new Set(),
    taken: (dedupeKey) => {
      try {
        options.onClaimed?.(dedupeKey);
      } catch {
        // The journal entry stays; the next start finds the claim and retires it.
      }
    },
    heldReported: new Set(),
    accepting: semaphore(ACCEPT_CONCURRENCY),
    record,
  };
  let closed = false;
  let prepared = false;
  const stopNudges = watchNudges(state, options.nudgePollMs);
  // After the first recover(), look again now and then for what a process that died meanwhile left.
  const rescanSchedule = options.leases?.schedule ?? unrefTimeout;
  let cancelRescan: (() => void) | undefined;
  const armRescan = () => {
    if (closed || cancelRescan !== undefined) return;
    cancelRescan = rescanSchedule(() => {
      cancelRescan = undefined;
      if (closed) return;
      work.run(() => rescanOutbox(state).finally(armRescan), {});
    }, OUTBOX_RESCAN_MS);
  };

  return {
    submit(terminal) {
      try {
        if (closed) return;
        // On this stack up to the first attempt's request when it has been quiet (accept-run.ts).
        work.runNow(
          () => acceptRun(state, terminal),
          () => ({ sessionId: String(terminal.sessionId) }),
        );
      } catch {
        // submit runs on OpenCode's event hook: a sync throw would stop later plugins' hooks.
      }
    },
    prepare() {
      if (closed || prepared) return;
      prepared = true;
      try {
        work.run(async () => {
          // A folder that cannot be made now is reported by the accept that needs it; try again later.
          await Promise.all([outbox.prepare(), dedupe.prepare()]).catch(() => {
            prepared = false;
          });
          if (audit.anchorNow?.() === undefined) await readAnchor(state);
        }, {});
      } catch {
        prepared = false; // prepare runs on OpenCode's event hook: never throw into it
      }
    },
    async drain() {
      await work.idle();
      await audit.flush().catch(appendFailed);
    },
    async recover() {
      if (closed) return;
      await recoverOutbox(state);
      armRescan();
    },
    async close() {
      if (closed) return;
      closed = true;
      stopNudges();
      cancelRescan?.();
      state.loop.stop();
      // In-flight attempts finish (bounded by timeoutMs); what they leave pending stays in the outbox.
      while (work.busy > 0) await work.idle();
      // What stop() kept from being sent waits in the outbox, leased until the outbox closes.
      await state.loop.promoteStaged();
      await state.loop.close();
      await outbox.close().catch(() => undefined);
    },
  };
}
