import { expect } from "vitest";
import { stagedBatchFiles } from "./pending-outbox-files.ts";
import { phase, type RelayFixture } from "./relay-fixture.ts";

/**
 * Each of `runIds` reached the receiver once, was accepted durable (on disk before its first
 * attempt) and delivered, with no `state_error`; no batch is left in `stateDir`'s `staged/`.
 */
export async function expectEachSentOnceDurable(
  fixture: RelayFixture,
  stateDir: string,
  runIds: string[],
): Promise<void> {
  expect(fixture.receiver.requests).toHaveLength(runIds.length);
  const records = await fixture.records();
  const accepted = phase(records, "accepted").map((r) => [r.runId, r.durable]);
  expect(accepted.sort()).toEqual(runIds.map((runId) => [runId, true]).sort());
  expect(phase(records, "state_error")).toEqual([]);
  expect(phase(records, "delivered")).toHaveLength(runIds.length);
  expect(stagedBatchFiles(stateDir)).toEqual([]);
}
