import { mkdtempSync, rmSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import { hashRecord } from "../../../relay/audit/hash-record.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "verify-audit-"));
  path = join(dir, "audit.jsonl");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function writeLog(count: number, maxBytes?: number): Promise<void> {
  const log = openAuditLog(maxBytes === undefined ? { path } : { path, maxBytes });
  for (let i = 1; i <= count; i++) {
    void log.append({ phase: "attempt", runId: `run-${i}`, sessionId: "ses_1", attempt: i });
  }
  await log.flush();
}

/** The log's lines; every one must parse as JSON except those a test broke on purpose. */
async function readLines(file = path): Promise<string[]> {
  const text = await readFile(file, "utf8");
  return text.slice(0, -1).split("\n");
}

async function writeLines(lines: string[], file = path): Promise<void> {
  await writeFile(file, `${lines.join("\n")}\n`);
}

describe("verifyAudit", () => {
  it("passes an untouched log, rotated or not", async () => {
    await writeLog(40, 1024);
    const result = await verifyAudit(path);
    expect(result).toMatchObject({ ok: true, records: 40 });
    expect(result.files.length).toBeGreaterThan(2);
    expect(result.files.at(-1)).toBe(path);
    expect(result.problem).toBeUndefined();
  });

  it("passes a missing log with 0 records", async () => {
    expect(await verifyAudit(join(dir, "none", "audit.jsonl"))).toEqual({ ok: true, records: 0, files: [] });
  });

  it("finds an edited record by its hash", async () => {
    await writeLog(10);
    const lines = await readLines();
    lines[4] = lines[4]!.replace('"attempt":5', '"attempt":6');
    await writeLines(lines);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "edited", line: 5, file: path });
  });

  it("finds an edited record whose hash was recomputed, by the next record's link", async () => {
    await writeLog(10);
    const lines = await readLines();
    const record = JSON.parse(lines[4]!);
    record.runId = "forged";
    record.hash = hashRecord(record);
    lines[4] = JSON.stringify(record);
    await writeLines(lines);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "edited", line: 5 });
  });

  it("finds a removed record in the middle and at the start", async () => {
    await writeLog(10);
    const lines = await readLines();
    await writeLines(lines.filter((_, i) => i !== 6));
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "removed", line: 7 });
    await writeLines(lines.slice(1));
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "removed", line: 1 });
  });

  it("finds whole trailing records removed, through the head file", async () => {
    await writeLog(10);
    const lines = await readLines();
    await writeLines(lines.slice(0, 8));
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "truncated", line: 9, file: path });
  });

  it("finds a missing head file once the log has records", async () => {
    await writeLog(3);
    await rm(`${path}.head`);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "truncated" });
  });

  it("finds a partial last line", async () => {
    await writeLog(5);
    const text = await readFile(path, "utf8");
    await writeFile(path, text.slice(0, -20));
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "truncated", line: 5 });
  });

  it("finds a line that is not a record", async () => {
    await writeLog(5);
    const lines = await readLines();
    lines.splice(2, 0, "not json");
    await writeLines(lines);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "malformed", line: 3 });
  });

  it("finds an inserted record: a forged one, a duplicate, and one with a valid link", async () => {
    await writeLog(10);
    const lines = await readLines();
    const forged = { ...JSON.parse(lines[3]!), runId: "forged", prev: "f".repeat(64) };
    forged.hash = hashRecord(forged);
    await writeLines([...lines.slice(0, 3), JSON.stringify(forged), ...lines.slice(3)]);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "inserted", line: 4 });

    await writeLines([...lines.slice(0, 3), lines[2]!, ...lines.slice(3)]);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "inserted", line: 4 });

    const linked = { ...JSON.parse(lines[3]!), runId: "forged" };
    linked.hash = hashRecord(linked);
    await writeLines([...lines.slice(0, 3), JSON.stringify(linked), ...lines.slice(3)]);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "inserted", line: 4 });
  });

  it("finds reordered records, including the last two", async () => {
    await writeLog(10);
    const lines = await readLines();
    const swap = (a: number, b: number) => {
      const copy = [...lines];
      [copy[a], copy[b]] = [copy[b]!, copy[a]!];
      return copy;
    };
    await writeLines(swap(3, 4));
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "reordered", line: 4 });
    await writeLines(swap(8, 9));
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "reordered", line: 9 });
    const moved = [...lines];
    const [second] = moved.splice(1, 1);
    moved.splice(4, 0, second!);
    await writeLines(moved);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "reordered", line: 2 });
  });

  it("finds a rotated file removed or renumbered", async () => {
    await writeLog(60, 1024);
    await rename(`${path}.1`, `${path}.1.bak`);
    await rename(`${path}.2`, `${path}.1`);
    await rename(`${path}.3`, `${path}.2`);
    await rename(`${path}.1.bak`, `${path}.3`);
    const reordered = await verifyAudit(path);
    expect(reordered.problem).toMatchObject({ kind: "reordered", file: `${path}.1`, line: 1 });

    await rm(`${path}.3`); // the original oldest file, now numbered 3
    await rename(`${path}.1`, `${path}.3`);
    await rename(`${path}.2`, `${path}.1`);
    await rename(`${path}.3`, `${path}.2`);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "removed", file: `${path}.1`, line: 1 });
  });

  it("stops at the first problem and counts the good records before it", async () => {
    await writeLog(10);
    const lines = await readLines();
    lines[2] = lines[2]!.replace('"attempt":3', '"attempt":4');
    lines[7] = lines[7]!.replace('"attempt":8', '"attempt":9');
    await writeLines(lines);
    expect(await verifyAudit(path)).toMatchObject({ ok: false, records: 2, problem: { line: 3 } });
  });
});
