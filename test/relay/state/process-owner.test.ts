import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { currentOwner, ownerLiveness } from "../../../relay/state/process-owner.ts";

describe("ownerLiveness", () => {
  it("says this very process is alive", () => {
    expect(currentOwner().startTime).not.toBeNull();
    expect(ownerLiveness(currentOwner())).toBe("alive");
  });

  it("says a pid now held by a process started at another time is dead (pid reuse)", () => {
    // This process's pid with another start time is exactly what a reused pid looks like.
    const reused = { ...currentOwner(), startTime: "1" };
    expect(ownerLiveness(reused)).toBe("dead");
  });

  it("says an owner from another boot of this host is dead, one from another host unknown", () => {
    expect(ownerLiveness({ ...currentOwner(), bootId: "another-boot" })).toBe("dead");
    expect(ownerLiveness({ ...currentOwner(), host: "elsewhere" })).toBe("unknown");
  });

  it("says a child is alive while it runs and dead once it has exited", async () => {
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    const pid = child.pid!;
    const { readFileSync } = await import("node:fs");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
    const owner = { ...currentOwner(), pid, startTime };
    expect(ownerLiveness(owner)).toBe("alive");
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(ownerLiveness(owner)).toBe("dead");
  });

  it("treats a malformed record as unknown, never dead", () => {
    expect(ownerLiveness({ pid: "12" })).toBe("unknown");
    expect(ownerLiveness(null)).toBe("unknown");
  });
});
