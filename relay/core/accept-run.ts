import type { TerminalRun } from "../callback/index.ts";
import { buildCallback, callbackIds } from "../callback/index.ts";
import { type PendingCallback, stateErrorRecord } from "../delivery/index.ts";
import { checkIntegrity } from "../integrity/index.ts";
import { type RelayState, rememberClaim } from "./relay-state.ts";

/**
 * Accept one terminal run: integrity → write-ahead stage → dedupe claim → `accepted` → delivery.
 * A burst of runs ending together (a CI fan-out) must not start hundreds of file-operation chains
 * at once in OpenCode's process: runs are accepted a few at a time, in submission order.
 */
export async function acceptRun(state: RelayState, run: TerminalRun): Promise<void> {
  await state.accepting.acquire();
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
  const callback = buildCallback(run, verdict, state.now());
  // The audit head at acceptance goes out with the callback: the receiver's copy anchors the log.
  const anchor = await state.audit.anchor?.().catch(() => undefined);
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
    const staged = await outbox.stage(item.entry);
    const claimed = await dedupe.claimStaged(callback.dedupeKey, staged).catch(async (error: unknown) => {
      await outbox.discard(staged);
      throw error;
    });
    if (!claimed) {
      await outbox.discard(staged);
      await record({ ...ids, phase: "deduped" });
      return state.taken(callback.dedupeKey);
    }
    state.taken(callback.dedupeKey);
    // The staged file and the claim already hold the callback on disk: take the lease and
    // promote it while the first attempt goes out (the loop waits for this before touching
    // the outbox again). A crash before the promote leaves the staged file for recover().
    // Promoted even when the lease fails: every callback of a staged batch must be promoted or
    // discarded before the batch's staged name goes, and with it its siblings' `ready`.
    item.ready = (async () => {
      try {
        item.lease = await outbox.lease(callback.dedupeKey);
      } finally {
        await outbox.promote(staged, callback.dedupeKey);
      }
    })().catch((error: unknown) => {
      item.durable = false;
      return record(stateErrorRecord(ids, error));
    });
  } catch (error) {
    item.durable = false;
    await record(stateErrorRecord(ids, error));
  }
  await record({
    ...ids,
    phase: "accepted",
    outcome: callback.routing.outcome,
    fallbackUsed: callback.routing.fallbackUsed,
    requestedAgent: callback.routing.requestedAgent,
    resolvedAgent: callback.routing.resolvedAgent,
    actualAgent: callback.routing.actualAgent,
    durable: item.durable,
  });
  state.loop.start(item);
}
