import { readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditInput } from "../../../relay/audit/audit-record.ts";
import { watchNudges } from "../../../relay/core/watch-nudges.ts";
import type { DeliveryLoop } from "../../../relay/delivery/delivery-loop.ts";
import { NUDGE_MAX_AGE_MS, writeNudge } from "../../../relay/state/nudge-file.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";

let dir: string | undefined;
const stops: Array<() => void> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A loop that owns `owned` and records which keys it was nudged for. */
function fakeLoop(owned: string[]): DeliveryLoop & { nudged: string[] } {
  const nudged: string[] = [];
  return {
    nudged,
    has: (key) => owned.includes(key),
    nudge(key) {
      nudged.push(key);
      return true;
    },
    start: () => undefined,
    stop: () => undefined,
    promoteStaged: async () => undefined,
    close: async () => undefined,
  };
}

describe("watchNudges", () => {
  it("honours a fresh nudge for a callback it holds and removes it; leaves other relays' nudges; removes stale ones unhonoured", async () => {
    dir = await mkdtemp(join(tmpdir(), "ocr-nudge-"));
    const outbox = openOutbox(dir);
    const loop = fakeLoop(["s|mine", "s|old"]);
    const mine = await writeNudge(outbox.dir, "s|mine");
    const theirs = await writeNudge(outbox.dir, "s|theirs");
    const old = await writeNudge(outbox.dir, "s|old");
    await writeFile(old, JSON.stringify({ dedupeKey: "s|old", at: Date.now() - NUDGE_MAX_AGE_MS - 1_000 }));
    const records: AuditInput[] = [];
    stops.push(watchNudges({ outbox, loop, record: async (r) => void records.push(r) }, 10));

    const folder = join(outbox.dir, "nudge");
    await waitFor("the nudges handled", () => (readdirSync(folder).length === 1 ? true : undefined), 5_000);
    expect(loop.nudged).toEqual(["s|mine"]);
    expect(readdirSync(folder).map((name) => join(folder, name))).toEqual([theirs]);
    expect(mine).not.toBe(theirs);
    expect(records).toEqual([]);
  });
});
