import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import type { Callback } from "../../../relay/callback/callback.ts";
import { openDedupeStore } from "../../../relay/state/dedupe-store.ts";
import { lazyDirs } from "../../../relay/state/lazy-dirs.ts";
import { openOutbox } from "../../../relay/state/outbox.ts";
import type { OutboxEntry } from "../../../relay/state/outbox-entry.ts";
import { ensurePrivateDir } from "../../../relay/state/private-dir.ts";

// The refusal cases need a folder owned by someone else: these tests run as root (chown to nobody).
const NOBODY = 65534;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-private-dir-"));
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o7777;

async function openFolder(name: string, options: { owner?: number; sticky?: boolean } = {}): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  await chmod(folder, options.sticky ? 0o1777 : 0o777);
  if (options.owner !== undefined) await chown(folder, options.owner, options.owner);
  return folder;
}

function entry(key: string): OutboxEntry {
  const callback = { dedupeKey: key, idempotencyKey: `idem-${key}`, acceptedAt: 1, routing: {}, report: {} };
  return { v: 1, callback: callback as unknown as Callback, attempts: 0, dueAt: 5 };
}

describe("ensurePrivateDir", () => {
  it("creates a missing folder 0700 and leaves a private one as it is", async () => {
    expect(await ensurePrivateDir(join(dir, "new", "deeper"))).toBe("ok");
    expect(await mode(join(dir, "new", "deeper"))).toBe(0o700);
    await chmod(join(dir, "new"), 0o750);
    expect(await ensurePrivateDir(join(dir, "new"))).toBe("ok");
    expect(await mode(join(dir, "new"))).toBe(0o750);
  });

  it("tightens a world-writable folder of ours to 0700", async () => {
    const folder = await openFolder("open");
    expect(await ensurePrivateDir(folder)).toBe("tightened");
    expect(await mode(folder)).toBe(0o700);
  });

  it("refuses a shared folder by design (sticky, like /tmp) without touching it", async () => {
    const folder = await openFolder("shared", { sticky: true });
    await expect(ensurePrivateDir(folder)).rejects.toMatchObject({ code: "STATE_FOLDER_INSECURE" });
    expect(await mode(folder)).toBe(0o1777);
  });

  it("refuses a world-writable folder that is not ours, without touching it", async () => {
    const folder = await openFolder("theirs", { owner: NOBODY });
    await expect(ensurePrivateDir(folder)).rejects.toMatchObject({ code: "STATE_FOLDER_INSECURE" });
    expect(await mode(folder)).toBe(0o777);
  });
});

describe("state and audit folders open to others", () => {
  it("tightens the state dir of ours on first use and says so", async () => {
    const stateDir = await openFolder("state");
    const tightened: string[] = [];
    const outbox = openOutbox(stateDir, { onTightened: (d) => tightened.push(d) });
    await outbox.put(entry("s|a"));
    expect(await mode(stateDir)).toBe(0o700);
    expect(tightened).toEqual([stateDir]);
    await outbox.close();
  });

  it("refuses a state dir that is not ours: nothing is written there", async () => {
    const stateDir = await openFolder("state", { owner: NOBODY });
    const outbox = openOutbox(stateDir);
    await expect(outbox.put(entry("s|a"))).rejects.toMatchObject({ code: "STATE_FOLDER_INSECURE" });
    await expect(outbox.stage(entry("s|a"))).rejects.toMatchObject({ code: "STATE_FOLDER_INSECURE" });
    await expect(openDedupeStore(stateDir).claimStaged("s|a", join(dir, "x"))).rejects.toMatchObject({
      code: "STATE_FOLDER_INSECURE",
    });
    expect(await readdir(stateDir)).toEqual([]);
    await outbox.close();
  });

  it("checks every folder between the state dir and a store's folders, parents first", async () => {
    const stateDir = join(dir, "state");
    await mkdir(join(stateDir, "outbox", "failed"), { recursive: true });
    await chmod(join(stateDir, "outbox"), 0o777);
    await chmod(join(stateDir, "outbox", "failed"), 0o775);
    const tightened: string[] = [];
    const ensure = lazyDirs(
      [join(stateDir, "outbox", "failed"), join(stateDir, "outbox", "staged")],
      (e) => e as Error,
      {
        root: stateDir,
        onTightened: (d) => tightened.push(d),
      },
    );
    await ensure();
    expect(tightened).toEqual([join(stateDir, "outbox"), join(stateDir, "outbox", "failed")]);
    expect(await mode(join(stateDir, "outbox", "staged"))).toBe(0o700);
  });

  it("tightens the audit folder of ours, with a warning record first in the log", async () => {
    const folder = await openFolder("audit");
    const log = openAuditLog({ path: join(folder, "audit.jsonl") });
    await log.append({ phase: "skipped", runId: "run-1" });
    await log.flush();
    expect(await mode(folder)).toBe(0o700);
    const records = (await readFile(join(folder, "audit.jsonl"), "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records).toMatchObject([
      { seq: 1, phase: "warning", code: "STATE_FOLDER_TIGHTENED", path: folder },
      { seq: 2, phase: "skipped", runId: "run-1" },
    ]);
  });

  it("refuses an audit folder that is not ours: nothing is written there, records go to the fallback", async () => {
    const folder = await openFolder("audit", { owner: NOBODY });
    const fallbackPath = join(dir, "fallback", "audit.jsonl");
    const log = openAuditLog({ path: join(folder, "audit.jsonl"), fallbackPath });
    await log.append({ phase: "skipped", runId: "run-1" });
    await log.flush();
    expect(await readdir(folder)).toEqual([]);
    const [record] = (await readFile(fallbackPath, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(record).toMatchObject({ phase: "skipped", fallbackCode: "STATE_FOLDER_INSECURE" });
  });
});
