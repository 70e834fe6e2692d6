import { mkdtempSync, rmSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import { GENESIS_HASH, hashRecordV1, sealRecord } from "../../../relay/audit/hash-record.ts";
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

/** A parsed record sealed again after an edit, as a forger who knows the (public) rule would. */
function reseal(record: Record<string, unknown>): string {
  const { prev, hash: _hash, mac: _mac, ...body } = record;
  return sealRecord(body as Parameters<typeof sealRecord>[0], prev as string).line.trimEnd();
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
    expect(await verifyAudit(join(dir, "none", "audit.jsonl"))).toEqual({
      ok: true,
      records: 0,
      files: [],
      keyed: false,
      legacy: 0,
      anchors: 0,
    });
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
    lines[4] = reseal({ ...JSON.parse(lines[4]!), runId: "forged" });
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
    const forged = reseal({ ...JSON.parse(lines[3]!), runId: "forged", prev: "f".repeat(64) });
    await writeLines([...lines.slice(0, 3), forged, ...lines.slice(3)]);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "inserted", line: 4 });

    await writeLines([...lines.slice(0, 3), lines[2]!, ...lines.slice(3)]);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "inserted", line: 4 });

    const linked = reseal({ ...JSON.parse(lines[3]!), runId: "forged" });
    await writeLines([...lines.slice(0, 3), linked, ...lines.slice(3)]);
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

describe("verifyAudit: exact bytes and bounds", () => {
  it("fails a line with a duplicated key, though it parses to the very record that was hashed", async () => {
    await writeLog(5);
    const lines = await readLines();
    // JSON.parse keeps the last "phase": the parsed record is unchanged, the bytes are not.
    lines[2] = lines[2]!.replace('"phase":"attempt"', '"phase":"delivered","phase":"attempt"');
    expect(JSON.parse(lines[2]!)).toEqual(JSON.parse((await readLines())[2]!));
    await writeLines(lines);
    expect((await verifyAudit(path)).problem).toMatchObject({
      kind: "edited",
      code: "AUDIT_LINE_NOT_CANONICAL",
      line: 3,
    });
  });

  it("fails a line re-spaced or re-escaped into another serialization of the same record", async () => {
    await writeLog(5);
    const lines = await readLines();
    await writeLines(lines.map((l, i) => (i === 1 ? l.replace('"seq":2,', '"seq": 2,') : l)));
    expect((await verifyAudit(path)).problem).toMatchObject({ code: "AUDIT_LINE_NOT_CANONICAL", line: 2 });
    await writeLines(
      lines.map((l, i) => (i === 3 ? l.replace('"runId":"run-4"', '"runId":"\\u0072un-4"') : l)),
    );
    expect((await verifyAudit(path)).problem).toMatchObject({ code: "AUDIT_LINE_NOT_CANONICAL", line: 4 });
  });

  it("reports a 100,000-deep line with a code instead of overflowing the stack", async () => {
    await writeLog(3);
    const lines = await readLines();
    const deep = `{"v":2,"seq":4,"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    await writeLines([...lines, deep]);
    expect(await verifyAudit(path)).toMatchObject({
      ok: false,
      records: 3,
      problem: { kind: "malformed", code: "AUDIT_LINE_TOO_DEEP", line: 4 },
    });
  });

  it("reports a line past 1 MiB with a code, without holding it", async () => {
    await writeLog(3);
    const lines = await readLines();
    await writeLines([lines[0]!, `{"v":2,"pad":"${"x".repeat(3 << 20)}"}`, ...lines.slice(1)]);
    expect((await verifyAudit(path)).problem).toMatchObject({ code: "AUDIT_LINE_TOO_LONG", line: 2 });
  });

  it("still verifies a v1 log (hashed over the parsed record) that v2 records continue", async () => {
    const v1 = (seq: number, prev: string) => {
      const record: Record<string, unknown> = {
        v: 1,
        seq,
        ts: "2026-01-01T00:00:00.000Z",
        phase: "skipped",
        prev,
      };
      record.hash = hashRecordV1(record);
      return record as { hash: string };
    };
    const first = v1(1, GENESIS_HASH);
    const second = v1(2, first.hash);
    await writeLines([JSON.stringify(first), JSON.stringify(second)]);
    await writeFile(`${path}.head`, JSON.stringify({ seq: 2, hash: second.hash }));
    await writeLog(3);
    expect(await verifyAudit(path)).toMatchObject({ ok: true, records: 5, legacy: 2 });

    // v1 is recomputable by anyone: a v1 record after v2 ones is a downgrade, not a legacy record.
    const lines = await readLines();
    const parsed = JSON.parse(lines[3]!);
    const downgraded: Record<string, unknown> = { ...parsed, v: 1 };
    downgraded.hash = hashRecordV1(downgraded);
    lines[3] = JSON.stringify(downgraded);
    await writeLines(lines);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "edited", line: 4 });
  });
});

describe("verifyAudit: anchors", () => {
  it("catches trailing records removed with the head rewritten, through an anchor", async () => {
    await writeLog(10);
    const lines = await readLines();
    const anchor = { seq: 9, hash: JSON.parse(lines[8]!).hash as string };
    const kept = lines.slice(0, 6);
    await writeLines(kept);
    await writeFile(`${path}.head`, JSON.stringify({ seq: 6, hash: JSON.parse(kept[5]!).hash }));
    expect((await verifyAudit(path)).ok).toBe(true); // what the chain alone cannot see
    expect(await verifyAudit(path, { anchors: [anchor] })).toMatchObject({
      ok: false,
      problem: { kind: "anchor", code: "AUDIT_ANCHOR_MISMATCH" },
    });
  });

  it("catches an edit resealed to the end, through an anchor past it, and counts anchors found", async () => {
    await writeLog(8);
    const lines = await readLines();
    const anchors = [3, 7].map((seq) => ({ seq, hash: JSON.parse(lines[seq - 1]!).hash as string }));
    expect(await verifyAudit(path, { anchors })).toMatchObject({ ok: true, anchors: 2 });
    let prev = JSON.parse(lines[3]!).prev as string;
    for (let i = 3; i < lines.length; i++) {
      const record = JSON.parse(lines[i]!);
      lines[i] = reseal({ ...record, prev, ...(i === 4 ? { runId: "forged" } : {}) });
      prev = JSON.parse(lines[i]!).hash;
    }
    await writeLines(lines);
    await writeFile(`${path}.head`, JSON.stringify({ seq: 8, hash: prev }));
    expect((await verifyAudit(path)).ok).toBe(true);
    expect((await verifyAudit(path, { anchors })).problem).toMatchObject({
      kind: "anchor",
      code: "AUDIT_ANCHOR_MISMATCH",
      line: 7,
    });
  });
});
