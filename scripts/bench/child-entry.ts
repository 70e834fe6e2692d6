import { burstBareChild, burstRelayChild } from "./burst.ts";
import { auditReadChild, auditStatsChild, initNoopChild, initPluginChild } from "./footprint.ts";
import { settleMemoryChild } from "./history-memory.ts";
import { timingReceiverChild } from "./timing-receiver.ts";

const CHILDREN: Record<string, () => Promise<unknown>> = {
  "burst-relay": burstRelayChild,
  "burst-bare": burstBareChild,
  "init-plugin": initPluginChild,
  "init-noop": initNoopChild,
  "audit-stats": auditStatsChild,
  "audit-read": auditReadChild,
  "settle-memory": settleMemoryChild,
  "timing-receiver": timingReceiverChild,
};

/** Measurements that must run in a fresh process (peak RSS, import time) enter here. */
export async function runChild(name: string): Promise<number> {
  const child = CHILDREN[name];
  if (!child) {
    process.stderr.write(`unknown child ${name}\n`);
    return 2;
  }
  const result = await child();
  // Exit at once: a child's leftovers (the relay's recovery, keep-alive sockets) must not keep it alive.
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  return 0;
}
