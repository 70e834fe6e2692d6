import type { TerminalRun } from "../callback/index.ts";
import { buildCallback, callbackIds } from "../callback/index.ts";
import { type PendingCallback, stateErrorRecord } from "../delivery/index.ts";
import { checkIntegrity } from "../integrity/index.ts";
import { type RelayState, rememberClaim } from "./relay-state.ts";

/**
 * Accept one terminal run: integrity → write-ahead stage → dedupe claim → `accepted` → delivery.
 * A burst of runs ending together (a CI fan-out) must not start hundreds of file-operation chains
 * at once in OpenCode's process: runs are accepted a few at a time, in submission order.
 *
 * After a quiet spell the whole way to the first attempt's request runs on the caller's stack: a
 * free slot, the audit head known, a batch of its own staged and claimed with synchronous calls,
 * the request handed to the transport. In OpenCode's process any `await` on that way waits 2–3 ms
 * behind OpenCode's own work after the turn, more after a long session's turn (BENCHMARKS.md,
 * section 9). Whatever is not ready at once (a folder not made yet, a commit on the
 * disk, a full semaphore) is waited for as before.
 */
export function acceptRun(state: RelayState, run: TerminalRun): Promise<void> {
  if (state.accepting.tryAcquire()) return acceptHeld(state, run);
  return state.accepting.acquire().then(() => acceptHeld(state, run));
}

async function acceptHeld(state: RelayState, run: TerminalRun): Promise<void> {
  try {
    await acceptNow(state, run);
  } finally {
    state.accepting.release();
  }
}

async function acceptNow(state: RelayState, run: TerminalRun): Promise<void> {
  const { record, outbox, dedupe } = state;
  const verdict = checkIntegrity(run, state.instance, state.config);
  if (!verdict.ok) {
    const { error, tags } = verdict;
    await record({
      phase: "integrity_error",
      sessionId: run.sessionId,
      ...(tags.runId === undefined ? {} : { runId: tags.runId }),
      outcome: run.outcome,
      code: error.code,
      reason: error.message,
      hint: error.hint,
      tags,
      ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
    });
    if (tags.runId !== undefined) state.taken(`${run.sessionId}|${tags.runId}`);
    return;
  }
  const callback = buildCallback(run, verdict, state.now(), {
    summaryMaxChars: state.config.summaryMaxChars,
  });
  // The audit head at acceptance goes out with the callback: the receiver's copy anchors the log.
  const prepared = state.preparedAnchor;
  const anchor = state.audit.anchorNow?.() ?? (prepared ? prepared.head : await readAnchor(state));
  if (anchor !== undefined) callback.auditAnchor = anchor;
  const ids = callbackIds(callback);
  if (state.claims.has(callback.dedupeKey)) {
    await record({ ...ids, phase: "deduped" });
    return state.taken(callback.dedupeKey);
  }
  rememberClaim(state, callback.dedupeKey);
  const item: PendingCallback = {
    entry: { v: 1, callback, attempts: 0, dueAt: callback.acceptedAt },
    lease: null,
    durable: true,
  };
  try {
    // Write-ahead: the callback is on disk before it is claimed, and the claim is a hard link
    // to that file (created only if no marker exists: whoever links first calls back, in any
    // process). A crash between claiming and promoting leaves a staged file recover() finds.
    // On this stack when it can be (the event hook's: the first attempt then goes out before the
    // hook returns); after an await when the folders are not made yet, a batch is being written, or
    // the disk held the write longer than OpenCode's event loop may wait for it (flusher.ts).
    const now = outbox.stageNow(item.entry);
    const staged = typeof now === "string" ? now : await (now ?? outbox.stage(item.entry));
    let claimed: boolean;
    try {
      claimed =
        dedupe.claimStagedNow(callback.dedupeKey, staged) ??
        (await dedupe.claimStaged(callback.dedupeKey, staged));
    } catch (error) {
      await outbox.discard(staged);
      throw error;
    }
    if (!claimed) {
      await outbox.discard(staged);
      await record({ ...ids, phase: "deduped" });
      return state.taken(callback.dedupeKey);
    }
    state.taken(callback.dedupeKey);
    item.stagedPath = staged;
    // The staged file and the claim already hold the callback on disk: the first attempt goes
    // out from them. The lease and the pending name are taken only if it does not deliver, or
    // takes long (pending-callback.ts); a crash before leaves the staged file for recover().
    item.promote = () => {
      item.ready ??= promoteLeased(state, item, staged);
      return item.ready;
    };
  } catch (error) {
    // Not on disk (a full or unwritable state dir): delivered from memory, and claimed on disk
    // once delivered. A run already claimed there (delivered before a restart) is not sent again.
    item.durable = false;
    await record(stateErrorRecord(ids, error));
    if (await dedupe.isClaimed(callback.dedupeKey)) return void (await record({ ...ids, phase: "deduped" }));
  }
  // The first attempt goes out at once, then `accepted` is recorded (queued for the log, not waited
  // for): every later record of the callback follows an await, so the log keeps this order.
  state.loop.start(item);
  void record({
    ...ids,
    phase: "accepted",
    outcome: callback.routing.outcome,
    fallbackUsed: callback.routing.fallbackUsed,
    requestedAgent: callback.routing.requestedAgent,
    resolvedAgent: callback.routing.resolvedAgent,
    actualAgent: callback.routing.actualAgent,
    durable: item.durable,
    ...(run.settledFrom === undefined ? {} : { settledFrom: run.settledFrom }),
  });
}

/**
 * The audit head from disk, for runs accepted before this process wrote a record and without
 * Relay.prepare(): read once, as prepare() does, and kept as its `preparedAnchor`. Runs accepted
 * meanwhile share the read (a burst's first runs would otherwise each open the head file, most of
 * them before anything was written to it).
 */
export function readAnchor(state: RelayState): Promise<string | undefined> {
  state.anchorRead ??= (state.audit.anchor?.() ?? Promise.resolve(undefined))
    .catch(() => undefined)
    .then((head) => {
      state.preparedAnchor ??= { head };
      return head;
    });
  return state.anchorRead;
}

/**
 * Lease the claimed callback and promote its staged file to the outbox entry. A lease that cannot
 * be written (the disk filled since staging) does not stop the promote, a rename that needs no
 * space: the entry is then delivered without a lease. Never rejects: a failure is a `state_error`,
 * and a staged file left unpromoted stays `item.stagedPath`, forgotten on delivery.
 */
async function promoteLeased(state: RelayState, item: PendingCallback, staged: string): Promise<void> {
  const key = item.entry.callback.dedupeKey;
  const ids = callbackIds(item.entry.callback);
  item.lease = await state.outbox.lease(key).catch((error: unknown) => {
    void state.record(stateErrorRecord(ids, error));
    return null;
  });
  try {
    await state.outbox.promote(staged, key);
    delete item.stagedPath;
  } catch (error) {
    await state.record(stateErrorRecord(ids, error));
  }
}
