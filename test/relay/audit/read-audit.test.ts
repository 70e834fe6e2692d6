import { mkdtempSync, rmSync } from "node:fs";
import { appendFile, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import type { AuditRecord } from "../../../relay/audit/audit-record.ts";
import { readAudit } from "../../../relay/audit/read-audit.ts";

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "read-audit-"));
  path = join(dir, "audit.jsonl");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function writeLog(count: number, maxBytes: number): Promise<void> {
  const log = openAuditLog({ path, maxBytes });
  for (let i = 1; i <= count; i++)
    void log.append({ phase: "attempt", runId: `run-${i}`, reason: "é€😀".repeat(i % 7) });
  await log.flush();
  // The sink check: every line written parses as JSON.
  for (const name of await readdir(dir)) {
    if (!name.startsWith("audit.jsonl") || name.endsWith(".head")) continue;
    const text = await readFile(join(dir, name), "utf8");
    for (const line of text.split("\n").slice(0, -1)) JSON.parse(line);
  }
}

async function collect(options?: Parameters<typeof readAudit>[1]): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of readAudit(path, options)) out.push(record);
  return out;
}

describe("readAudit", () => {
  it("streams rotated files and the active one as one log, oldest first", async () => {
    await writeLog(300, 4096);
    const records = await collect();
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(records[5]?.reason).toBe("é€😀".repeat(6));
  });

  it("orders rotated files by number, not by name (.10 after .9)", async () => {
    await writeLog(400, 1024);
    expect((await readdir(dir)).includes("audit.jsonl.10")).toBe(true);
    const seqs = (await collect()).map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs).toHaveLength(400);
  });

  it("yields nothing for a missing log", async () => {
    expect(await collect()).toEqual([]);
    const inMissingFolder: AuditRecord[] = [];
    for await (const r of readAudit(join(dir, "no", "audit.jsonl"))) inMissingFolder.push(r);
    expect(inMissingFolder).toEqual([]);
  });

  it("skips a torn last line and says where", async () => {
    await writeLog(3, 1 << 20);
    await appendFile(path, '{"v":1,"seq":4');
    const skipped: { file: string; line: number }[] = [];
    const records = await collect({ onSkipped: (where) => skipped.push(where) });
    expect(records).toHaveLength(3);
    expect(skipped).toEqual([{ file: path, line: 4 }]);
  });

  it("does not include records appended after it started", async () => {
    await writeLog(5, 1 << 20);
    const log = openAuditLog({ path });
    const seen: number[] = [];
    for await (const record of readAudit(path)) {
      seen.push(record.seq);
      if (seen.length === 1) await log.append({ phase: "attempt" });
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it("can be abandoned early", async () => {
    await writeLog(50, 2048);
    for await (const record of readAudit(path)) {
      if (record.seq === 3) break;
    }
    expect(await collect()).toHaveLength(50);
  });

  it("skips record-shaped lines past the depth and size bounds instead of handing them on", async () => {
    await writeLog(2, 1 << 20);
    const shape = '"v":2,"seq":3,"ts":"2026-01-01T00:00:00.000Z","phase":"skipped","prev":"p","hash":"h"';
    await appendFile(path, `{${shape},"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}\n`);
    await appendFile(path, `{${shape},"x":"${"y".repeat(2 << 20)}"}\n`);
    const skipped: { file: string; line: number }[] = [];
    const records = await collect({ onSkipped: (where) => skipped.push(where) });
    expect(records.map((r) => r.seq)).toEqual([1, 2]);
    expect(skipped).toEqual([
      { file: path, line: 3 },
      { file: path, line: 4 },
    ]);
  });
});
