import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { lockPath } from "../../../relay/audit/audit-files.ts";
import { AUDIT_LOCK_STALE_MS, withAuditLock } from "../../../relay/audit/audit-lock.ts";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";
import { currentOwner, pidExists } from "../../../relay/state/process-owner.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import { bundleForChild } from "../../helpers/bundle-for-child.ts";

// A handful of quick retries: far short of the stale period, so only a take-over can succeed.
const FEW = { retries: 3 };

let dir: string;
let path: string;
let bundleDir: string;
let bundle: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  bundleDir = mkdtempSync(join(tmpdir(), "audit-lock-fixture-"));
  bundle = await bundleForChild("test/fixtures/hold-audit-lock.ts", bundleDir);
});
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "audit-lock-"));
  path = join(dir, "audit.jsonl");
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
      child.kill("SIGKILL");
    await waitFor("the lock holder to exit", () =>
      child.pid === undefined || !pidExists(child.pid) ? true : undefined,
    );
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Another process holding the log's lock (stdin open), resolved once it says it holds it. */
async function holder(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [bundle, path], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  await waitFor("the child to hold the lock", () => (out.includes("held") ? true : undefined));
  return child;
}

async function exited(child: ChildProcess): Promise<void> {
  await waitFor("the child to exit", () =>
    child.exitCode !== null || child.signalCode !== null ? true : undefined,
  );
}

const ran = () => withAuditLock(path, async () => "ran", FEW);

describe("the audit log's lock", () => {
  it("is taken over at once from a holder that was SIGKILLed while holding it", async () => {
    const child = await holder();
    await expect(ran()).rejects.toMatchObject({ code: "ELOCKED" }); // alive: held
    child.kill("SIGKILL");
    await exited(child);
    expect(await ran()).toBe("ran");
    // Taken over and released: nothing is left beside the log.
    expect(await readdir(dir)).toEqual([]);
  });

  it("waits for a live holder, and has it once the holder releases", async () => {
    const child = await holder();
    await expect(ran()).rejects.toMatchObject({ code: "ELOCKED" });
    const waiting = withAuditLock(path, async () => "after release");
    child.stdin?.end();
    await exited(child);
    expect(child.exitCode).toBe(0);
    await expect(waiting).resolves.toBe("after release");
  });

  it("names its holder inside the lock while held, and removes the lock on release", async () => {
    const seen = await withAuditLock(path, async () =>
      JSON.parse(await readFile(join(lockPath(path), "owner.json"), "utf8")),
    );
    expect(seen.owner).toEqual(currentOwner());
    expect(typeof seen.token).toBe("string");
    expect(await readdir(dir)).toEqual([]);
  });

  it("takes over a lock without an owner (an older writer, or one that died naming itself) only once it is stale", async () => {
    await mkdir(lockPath(path));
    await expect(ran()).rejects.toMatchObject({ code: "ELOCKED" });
    const old = new Date(Date.now() - AUDIT_LOCK_STALE_MS - 1_000);
    await utimes(lockPath(path), old, old);
    expect(await ran()).toBe("ran");
  });

  it("leaves a holder on another host alone until its lock is stale", async () => {
    await mkdir(lockPath(path));
    const owner = { ...currentOwner(), host: "elsewhere", pid: 1 };
    await writeFile(join(lockPath(path), "owner.json"), JSON.stringify({ owner, token: "t" }));
    const fresh = new Date();
    await utimes(lockPath(path), fresh, fresh);
    await expect(ran()).rejects.toMatchObject({ code: "ELOCKED" });
    const old = new Date(Date.now() - AUDIT_LOCK_STALE_MS - 1_000);
    await utimes(lockPath(path), old, old);
    expect(await ran()).toBe("ran");
  });

  it("a holder whose lock was taken over does not remove the new holder's lock on release", async () => {
    let releaseFirst: (() => void) | undefined;
    const first = withAuditLock(path, () => new Promise<void>((resolve) => (releaseFirst = resolve)));
    await waitFor("the first holder", () => (releaseFirst === undefined ? undefined : true));
    // Make the first holder look dead: its lock names a process that is gone.
    const dead = { ...currentOwner(), pid: 999_999, startTime: "1" };
    await writeFile(join(lockPath(path), "owner.json"), JSON.stringify({ owner: dead, token: "gone" }));
    let releaseSecond: (() => void) | undefined;
    const second = withAuditLock(path, () => new Promise<void>((resolve) => (releaseSecond = resolve)), FEW);
    await waitFor("the second holder", () => (releaseSecond === undefined ? undefined : true));
    releaseFirst?.();
    await first;
    expect(await readdir(lockPath(path))).toContain("owner.json"); // still the second's
    releaseSecond?.();
    await second;
    expect(await readdir(dir)).toEqual([]);
  });

  it("lets one waiter at a time hold it when several take over a dead holder's lock together", async () => {
    // Several writers find the same dead holder's lock at once: each judges it abandoned, and only
    // one may take it over. A waiter that judged the dead lock must never move or remove the lock
    // another waiter has taken anew meanwhile (that left two holders writing one chain).
    const dead = { ...currentOwner(), pid: 999_999, startTime: "1" };
    for (let round = 0; round < 25; round += 1) {
      await mkdir(lockPath(path));
      await writeFile(
        join(lockPath(path), "owner.json"),
        JSON.stringify({ owner: dead, token: `gone-${round}` }),
      );
      let inside = 0;
      let most = 0;
      await Promise.all(
        Array.from({ length: 6 }, () =>
          withAuditLock(path, async () => {
            inside += 1;
            most = Math.max(most, inside);
            // Hold it across file-system round trips, as an append does.
            await stat(lockPath(path)).catch(() => undefined);
            await readdir(dir);
            inside -= 1;
          }),
        ),
      );
      expect(most).toBe(1);
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it("takes over a dead holder's lock even when a waiter died in the middle of taking it over", async () => {
    const dead = { ...currentOwner(), pid: 999_999, startTime: "1" };
    for (const folder of [lockPath(path), `${lockPath(path)}.break`]) {
      await mkdir(folder);
      await writeFile(join(folder, "owner.json"), JSON.stringify({ owner: dead, token: "gone" }));
    }
    expect(await withAuditLock(path, async () => "ran", FEW)).toBe("ran");
    expect(await readdir(dir)).toEqual([]);
  });

  it("lets a log's appends go on at once after a writer was SIGKILLed holding its lock, one verifiable chain", async () => {
    const log = openAuditLog({ path });
    await log.append({ phase: "attempt", runId: "before" });
    await log.flush();
    const child = await holder();
    child.kill("SIGKILL");
    await exited(child);
    // Appends wait at most ~20 s for the lock before falling back; taken over at once, they land.
    await log.append({ phase: "delivered", runId: "after" });
    await log.flush();
    const lines = (await readFile(path, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((r) => r.runId)).toEqual(["before", "after"]);
    expect(await verifyAudit(path)).toMatchObject({ ok: true, records: 2 });
  });
});
