import { describe, expect, it } from "vitest";
import type { AuditInput } from "../../../relay/audit/index.ts";
import { backgroundWork } from "../../../relay/core/background-work.ts";

describe("backgroundWork", () => {
  it("runs work off the caller's stack, but before the next turn of the event loop", async () => {
    // In OpenCode after a turn, the next turn of the event loop waits behind its I/O callbacks:
    // a callback must not pay that at each hand-over (submit → accept, accept → attempt).
    const work = backgroundWork(() => Promise.resolve());
    const order: string[] = [];
    setImmediate(() => order.push("next turn"));
    work.run(async () => {
      order.push("work");
    }, {});
    order.push("caller");
    await work.idle();
    expect(order).toEqual(["caller", "work"]);
  });

  it("records an escaped throw as a failed INTERNAL record and still counts the work done", async () => {
    const records: AuditInput[] = [];
    const work = backgroundWork(async (input) => {
      records.push(input);
    });
    work.run(() => Promise.reject(new Error("bug")), { sessionId: "ses_1" });
    expect(work.busy).toBe(1);
    await work.idle();
    expect(work.busy).toBe(0);
    expect(records).toMatchObject([{ phase: "failed", code: "INTERNAL", sessionId: "ses_1" }]);
  });
});
