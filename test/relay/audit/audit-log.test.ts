import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { appendFile, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import type { AuditRecord } from "../../../relay/audit/audit-record.ts";
import { GENESIS_HASH, hashPrefix } from "../../../relay/audit/hash-record.ts";
import { readAudit } from "../../../relay/audit/read-audit.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";
import { sinkAudit } from "../../helpers/audit-sink.ts";
import { bundleForChild } from "../../helpers/bundle-for-child.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "audit-log-"));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

/** Every line of every file parses as JSON (the sink check), returned in order. */
async function lines(file: string): Promise<AuditRecord[]> {
  const text = await readFile(file, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as AuditRecord);
}

async function collect(path: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of readAudit(path)) out.push(record);
  return out;
}

describe("openAuditLog", () => {
  it("creates nothing until the first append", async () => {
    const path = join(dir, "nested", "audit.jsonl");
    openAuditLog({ path });
    await expect(stat(join(dir, "nested"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("writes one chained JSON line per record, files 0600 in folders 0700", async () => {
    const path = join(dir, "a", "b", "audit.jsonl");
    const log = openAuditLog({ path, now: () => new Date("2026-01-02T03:04:05.000Z") });
    await log.append({ phase: "accepted", sessionId: "ses_1", runId: "run-1", dedupeKey: "ses_1|run-1" });
    await log.append({ phase: "delivered", sessionId: "ses_1", runId: "run-1", dedupeKey: "ses_1|run-1" });
    const [first, second] = await lines(path);
    expect(first).toMatchObject({
      v: 2,
      seq: 1,
      ts: "2026-01-02T03:04:05.000Z",
      phase: "accepted",
      prev: GENESIS_HASH,
    });
    // v2: the hash covers the exact bytes of the line before `,"hash":`.
    const firstLine = (await readFile(path, "utf8")).split("\n")[0]!;
    expect(first?.hash).toBe(hashPrefix(firstLine.slice(0, firstLine.indexOf(',"hash":'))));
    expect(second).toMatchObject({ seq: 2, prev: first?.hash });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "a"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "a", "b"))).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(`${path}.head`, "utf8"))).toEqual({ seq: 2, hash: second?.hash });
    expect((await stat(`${path}.head`)).mode & 0o777).toBe(0o600);
  });

  it("sets v, ts, seq, prev and hash itself, whatever the caller passes", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path });
    await log.append({ phase: "skipped", seq: 99, prev: "x", hash: "y", v: 7, ts: "then" });
    const [record] = await lines(path);
    expect(record).toMatchObject({ v: 2, seq: 1, prev: GENESIS_HASH });
    expect(record?.ts).not.toBe("then");
    expect((await verifyAudit(path)).ok).toBe(true);
  });

  it("keeps one unbroken chain under concurrent appends from several AuditLog objects", async () => {
    const path = join(dir, "audit.jsonl");
    const logs = [openAuditLog({ path }), openAuditLog({ path }), openAuditLog({ path })];
    await Promise.all(
      Array.from({ length: 600 }, (_, i) => logs[i % 3]!.append({ phase: "attempt", runId: `run-${i}` })),
    );
    const records = await lines(path);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    expect(new Set(records.map((r) => r.runId)).size).toBe(600);
    expect(await verifyAudit(path)).toMatchObject({ ok: true, records: 600 });
  });

  it("flush resolves once everything appended so far is on disk", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path });
    for (let i = 0; i < 50; i++) void log.append({ phase: "attempt", attempt: i });
    await log.flush();
    expect(await lines(path)).toHaveLength(50);
  });

  it("rotates by size into <path>.1, .2 … and continues the chain across files", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path, maxBytes: 2048 });
    await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        log.append({ phase: "attempt", runId: `run-${i}`, reason: "x".repeat(40) }),
      ),
    );
    const names = (await readdir(dir)).filter((n) => /^audit\.jsonl\.\d+$/.test(n));
    expect(names.length).toBeGreaterThan(3);
    for (const name of [...names, "audit.jsonl"]) {
      expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(2048);
      expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);
    }
    const firstFile = await lines(`${path}.1`);
    const secondFile = await lines(`${path}.2`);
    expect(secondFile[0]?.prev).toBe(firstFile.at(-1)?.hash);
    const all = await collect(path);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(await verifyAudit(path)).toMatchObject({ ok: true, records: 120 });
  });

  it("never writes secrets: secret-looking keys dropped, configured literals redacted", async () => {
    const path = join(dir, "audit.jsonl");
    const token = "tok_5ecr3t-value";
    const signingKey = "whsec_c2lnbmluZ2tleQ==";
    const log = openAuditLog({ path, secrets: [token, signingKey] });
    await log.append({
      phase: "attempt",
      reason: `sent with ${token} and Bearer abcdefghijkl`,
      url: "https://user:pa55word@example.test/hooks",
      headers: { Authorization: `Bearer ${token}`, "X-Api-Key": "k-123456", "webhook-signature": "v1,abc" },
      nested: { deeper: [{ password: "hunter2", note: `key ${signingKey} leaked`, Cookie: "c=1" }] },
      cause: { clientSecret: "cs-999", accessToken: "at-888", [`k-${token}`]: 1 },
      tokens: { input: 10, output: 20 },
    });
    const bytes = await readFile(path, "utf8");
    for (const secret of [
      token,
      signingKey,
      "abcdefghijkl",
      "pa55word",
      "k-123456",
      "v1,abc",
      "hunter2",
      "c=1",
    ]) {
      expect(bytes).not.toContain(secret);
    }
    for (const secret of ["cs-999", "at-888"]) expect(bytes).not.toContain(secret);
    const [record] = await lines(path);
    expect(record?.tokens).toEqual({ input: 10, output: 20 });
    expect(record?.reason).toContain("[redacted]");
    expect((await verifyAudit(path)).ok).toBe(true);
    await sinkAudit(path, {
      token,
      signingKey,
      bearer: "abcdefghijkl",
      password: "pa55word",
      apiKey: "k-123456",
    });
  });

  it("turns values JSON cannot hold into JSON, so every line still parses and verifies", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path });
    const cycle: Record<string, unknown> = { name: "loop" };
    cycle.self = cycle;
    await log.append({
      phase: "failed",
      cycle,
      big: 10n,
      when: new Date("2026-01-01T00:00:00Z"),
      error: Object.assign(new Error("boom"), { code: "ECONNRESET" }),
      nan: Number.NaN,
      fn: () => 1,
    });
    const [record] = await lines(path);
    expect(record).toMatchObject({
      cycle: { name: "loop", self: "[circular]" },
      big: "10",
      when: "2026-01-01T00:00:00.000Z",
      error: { name: "Error", message: "boom", code: "ECONNRESET" },
      nan: null,
    });
    expect(record).not.toHaveProperty("fn");
    expect((await verifyAudit(path)).ok).toBe(true);
  });

  it("writes to fallbackPath and notes it on stderr once when the path cannot be written", async () => {
    const blocker = join(dir, "not-a-folder");
    await writeFile(blocker, "a regular file");
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const fallbackPath = join(dir, "fallback", "audit.jsonl");
    const log = openAuditLog({ path: join(blocker, "audit.jsonl"), fallbackPath });
    await expect(log.append({ phase: "accepted", runId: "run-1" })).resolves.toBeUndefined();
    await expect(log.append({ phase: "delivered", runId: "run-1" })).resolves.toBeUndefined();
    const notices = stderr.mock.calls.map((c) => String(c[0])).filter((t) => t.includes("AUDIT_UNWRITABLE"));
    expect(notices).toHaveLength(1);
    const records = await lines(fallbackPath);
    expect(records.map((r) => r.phase)).toEqual(["accepted", "delivered"]);
    expect(records[0]).toMatchObject({
      fallbackFor: join(blocker, "audit.jsonl"),
      fallbackCode: expect.any(String),
    });
    expect((await verifyAudit(fallbackPath)).ok).toBe(true);
  });

  it("writes records to stderr when there is no fallback, without throwing", async () => {
    const blocker = join(dir, "file");
    await writeFile(blocker, "");
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const log = openAuditLog({ path: join(blocker, "x", "audit.jsonl") });
    await log.append({ phase: "failed", runId: "run-9", code: "DELIVERY_EXPIRED" });
    const written = stderr.mock.calls.map((c) => String(c[0])).join("");
    const line = written.split("\n").find((l) => l.startsWith("{"));
    expect(JSON.parse(line ?? "null")).toMatchObject({ phase: "failed", runId: "run-9" });
  });

  it("cuts a torn last line left by a crashed writer and keeps the chain whole", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path });
    await log.append({ phase: "accepted", runId: "a" });
    await appendFile(path, '{"v":1,"seq":2,"ph');
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    await log.append({ phase: "delivered", runId: "a" });
    expect((await lines(path)).map((r) => r.seq)).toEqual([1, 2]);
    expect((await verifyAudit(path)).ok).toBe(true);
  });

  it("continues from the head when trailing records were removed, so verify still sees the gap", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path });
    for (let i = 0; i < 3; i++) await log.append({ phase: "attempt", attempt: i });
    const text = await readFile(path, "utf8");
    await truncate(path, text.indexOf("\n") + 1); // keep only seq 1
    await log.append({ phase: "attempt", attempt: 9 });
    expect((await lines(path)).map((r) => r.seq)).toEqual([1, 4]);
    expect((await verifyAudit(path)).problem).toMatchObject({ kind: "removed", line: 2 });
  });
});

describe("several processes on one log", () => {
  let bundle: string;
  let bundleDir: string;
  beforeAll(async () => {
    bundleDir = mkdtempSync(join(tmpdir(), "audit-fixture-"));
    bundle = await bundleForChild("test/fixtures/append-audit.ts", bundleDir);
  });
  afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));

  it("keeps one verifiable chain with 4 processes appending and rotating at once", async () => {
    const path = join(dir, "audit.jsonl");
    const run = promisify(execFile);
    const writers = ["w1", "w2", "w3", "w4"];
    await Promise.all(writers.map((w) => run(process.execPath, [bundle, path, w, "150", "16384"])));
    const records = await collect(path);
    expect(records).toHaveLength(600);
    for (const w of writers) expect(records.filter((r) => r.sessionId === `ses_${w}`)).toHaveLength(150);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    expect(await verifyAudit(path)).toMatchObject({ ok: true, records: 600 });
    expect((await readdir(dir)).some((n) => n === "audit.jsonl.1")).toBe(true);
  });
});
