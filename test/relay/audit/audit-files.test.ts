import { mkdtempSync, rmSync } from "node:fs";
import { copyFile, lstat, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import { readAudit } from "../../../relay/audit/read-audit.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "audit-files-"));
  path = join(dir, "audit.jsonl");
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

async function writeLog(count: number, maxBytes?: number): Promise<void> {
  const log = openAuditLog(maxBytes === undefined ? { path } : { path, maxBytes });
  for (let i = 1; i <= count; i++) void log.append({ phase: "attempt", runId: `run-${i}`, attempt: i });
  await log.flush();
}

/** A file someone else cares about, ending in a line without a newline (which a writer would cut). */
async function victim(): Promise<{ path: string; text: string }> {
  const target = join(dir, "victim.txt");
  const text = "precious first line\nprecious last line without newline";
  await writeFile(target, text);
  return { path: target, text };
}

describe("the audit log's files and symbolic links", () => {
  it("never appends to, nor cuts, a file a link at the audit path points to: records go to the fallback", async () => {
    const target = await victim();
    await symlink(target.path, path);
    const fallbackPath = join(dir, "fallback", "audit.jsonl");
    const log = openAuditLog({ path, fallbackPath });
    await log.append({ phase: "skipped", runId: "run-1" });
    await log.flush();
    expect(await readFile(target.path, "utf8")).toBe(target.text);
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    const [record] = (await readFile(fallbackPath, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(record).toMatchObject({ phase: "skipped", runId: "run-1", fallbackCode: "STATE_SYMLINK_REFUSED" });
  });

  it("refuses a rotated file that is a link, in verify and in the readers", async () => {
    await writeLog(30, 1024);
    const copy = join(dir, "elsewhere");
    await copyFile(`${path}.1`, copy);
    await rm(`${path}.1`);
    await symlink(copy, `${path}.1`);
    expect(await verifyAudit(path)).toMatchObject({
      ok: false,
      problem: { file: `${path}.1`, code: "STATE_SYMLINK_REFUSED" },
    });
    const skipped: { file: string; line: number }[] = [];
    for await (const _ of readAudit(path, { onSkipped: (where) => skipped.push(where) })) {
      // drain
    }
    expect(skipped).toContainEqual({ file: `${path}.1`, line: 0 });
  });

  it("refuses a head file that is a link, and replaces the link (not its target) on the next append", async () => {
    await writeLog(3);
    const copy = join(dir, "head-elsewhere");
    await copyFile(`${path}.head`, copy);
    const before = await readFile(copy, "utf8");
    await rm(`${path}.head`);
    await symlink(copy, `${path}.head`);
    expect((await verifyAudit(path)).problem).toMatchObject({
      file: `${path}.head`,
      code: "STATE_SYMLINK_REFUSED",
    });
    await writeLog(1);
    expect(await readFile(copy, "utf8")).toBe(before);
    expect((await lstat(`${path}.head`)).isFile()).toBe(true);
    expect(await verifyAudit(path)).toMatchObject({ ok: true, records: 4 });
  });
});
