import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog } from "../../relay/index.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { bundleForChild } from "../helpers/bundle-for-child.ts";

let tmp: string;
let cli: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-follow-"));
  // The CLI as its own process (what a person runs), bundled from the sources under test.
  cli = await bundleForChild("scripts/cli/cli.ts", tmp);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function follow(args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [cli, "audit", "--follow", ...args], {
    env: { HOME: tmp, XDG_CONFIG_HOME: path.join(tmp, "no-config") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
  });
  return { child, out: () => out, err: () => err };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

describe("audit --follow", () => {
  it("streams records as they land, across rotation, JSON only on stdout, until SIGINT", async () => {
    const log = path.join(tmp, "rotating", "audit.jsonl");
    // Small files: the 60 records below rotate the log several times while it is followed.
    const audit = openAuditLog({ path: log, maxBytes: 2048 });
    for (let i = 0; i < 3; i++)
      await audit.append({ phase: "accepted", runId: `before-${i}`, sessionId: "ses_a" });
    await audit.flush();

    const { child, out, err } = follow(["--file", log, "--json"]);
    const done = exited(child);
    await waitFor("the follower to start", () => (err().includes("following") ? true : undefined));
    for (let i = 0; i < 60; i++) {
      await audit.append({ phase: "attempt", runId: `run-${i}`, sessionId: "ses_a", attempt: 1 });
      if (i % 7 === 0) await audit.flush();
    }
    await audit.flush();
    const lines = await waitFor("60 followed records", () => {
      const got = out()
        .split("\n")
        .filter((l) => l !== "");
      return got.length >= 60 ? got : undefined;
    });
    process.kill(child.pid!, "SIGINT");
    expect(await done).toBe(0);
    const records = lines.map((l) => JSON.parse(l) as { runId: string; seq: number });
    // Only what landed after it started, every one of them, in order: nothing skipped at a rotation.
    expect(records.map((r) => r.runId)).toEqual(Array.from({ length: 60 }, (_, i) => `run-${i}`));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 4));
    await sinkAudit(log, []);
  });

  it("waits for a log that does not exist yet, and filters by --run", async () => {
    const log = path.join(tmp, "later", "audit.jsonl");
    const { child, out, err } = follow(["--file", log, "--run", "run-b"]);
    const done = exited(child);
    await waitFor("the follower to start", () => (err().includes("following") ? true : undefined));
    const audit = openAuditLog({ path: log });
    await audit.append({
      phase: "accepted",
      runId: "run-a",
      sessionId: "ses_1",
      callbackSession: "agent:main:main",
    });
    await audit.append({
      phase: "accepted",
      runId: "run-b",
      sessionId: "ses_2",
      callbackSession: "agent:main:x",
    });
    await audit.append({ phase: "delivered", runId: "run-b", sessionId: "ses_2", status: 200, attempts: 1 });
    await audit.flush();
    await waitFor("run-b's delivered record", () => (out().includes("delivered") ? true : undefined));
    process.kill(child.pid!, "SIGINT");
    expect(await done).toBe(0);
    expect(out()).toContain("run run-b (ses_2) → agent:main:x");
    expect(out()).not.toContain("run-a");
    await sinkAudit(log, []);
  });
});
