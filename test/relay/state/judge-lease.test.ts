import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { HALF_WRITTEN_MS, judgeLease, LEASE_STALE_MS } from "../../../relay/state/judge-lease.ts";
import { currentOwner } from "../../../relay/state/process-owner.ts";

const NOW = 1_800_000_000_000;
const facts = (lease: unknown, renewedAgoMs: number, liveHolders: string[] = []) => ({
  text: typeof lease === "string" ? lease : JSON.stringify(lease),
  renewedAt: NOW - renewedAgoMs,
  now: NOW,
  wallNow: NOW,
  liveHolders: new Set(liveHolders),
});
const elsewhere = { host: "another-host", pid: 7, bootId: "b", startTime: "9" };

describe("judgeLease", () => {
  it("a holder on another host: renewing while renewed, dead once not renewed for LEASE_STALE_MS", () => {
    const lease = { v: 2, owner: elsewhere, holder: "h", takenAt: NOW - 2 * 3600_000 }; // held 2 h
    expect(judgeLease(facts(lease, 10_000)).state).toBe("renewing");
    expect(judgeLease(facts(lease, LEASE_STALE_MS - 1)).state).toBe("renewing");
    expect(judgeLease(facts(lease, LEASE_STALE_MS + 1)).state).toBe("dead");
  });

  it("a live holder on this host, or a keeper open in this process, is alive however old its renewal", () => {
    const stat = readFileSync(`/proc/${process.ppid}/stat`, "utf8");
    const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
    const parent = { v: 2, owner: { ...currentOwner(), pid: process.ppid, startTime }, holder: "h" };
    expect(judgeLease(facts(parent, 24 * 3600_000)).state).toBe("alive");
    const open = { v: 2, owner: elsewhere, holder: "open-here" };
    expect(judgeLease(facts(open, 24 * 3600_000, ["open-here"])).state).toBe("alive");
  });

  it("this process under another start time (a reused pid), another boot, or a closed keeper here: dead", () => {
    const me = currentOwner();
    expect(judgeLease(facts({ v: 2, owner: { ...me, startTime: "1" }, holder: "h" }, 0)).state).toBe("dead");
    expect(judgeLease(facts({ v: 2, owner: { ...me, bootId: "old-boot" }, holder: "h" }, 0)).state).toBe(
      "dead",
    );
    expect(judgeLease(facts({ v: 2, owner: me, holder: "closed" }, 0)).state).toBe("dead");
  });

  it("an old lease naming a bare pid that runs is judged by renewal age (the pid may be reused)", () => {
    const running = { pid: process.pid, host: hostname(), holder: "old", at: 1 };
    expect(judgeLease(facts(running, 1_000)).state).toBe("renewing");
    expect(judgeLease(facts(running, LEASE_STALE_MS + 1)).state).toBe("dead");
    const foreign = { pid: 1, host: "another-host", holder: "old", at: 1 };
    expect(judgeLease(facts(foreign, 1_000)).state).toBe("renewing");
  });

  it("an empty or torn lease is being written until HALF_WRITTEN_MS, then dead", () => {
    expect(judgeLease(facts("", 1_000)).state).toBe("writing");
    expect(judgeLease(facts('{"v":2,"own', HALF_WRITTEN_MS + 1)).state).toBe("dead");
  });
});
