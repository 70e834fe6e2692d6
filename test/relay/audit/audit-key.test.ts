import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readAuditKey } from "../../../relay/audit/audit-key.ts";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import { sealRecord } from "../../../relay/audit/hash-record.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";

let dir: string;
let path: string;
let keyPath: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "audit-key-"));
  path = join(dir, "log", "audit.jsonl");
  keyPath = join(dir, "state", "audit.key");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function writeLog(count: number, options: { keyPath?: string } = { keyPath }): Promise<void> {
  const log = openAuditLog({ path, ...options });
  for (let i = 1; i <= count; i++) void log.append({ phase: "attempt", runId: `run-${i}`, attempt: i });
  await log.flush();
}

async function lines(): Promise<string[]> {
  return (await readFile(path, "utf8")).slice(0, -1).split("\n");
}

/** What a forger who can write the log, and knows the public hashing rule, but not the key, does. */
async function forge(edit: (records: Record<string, unknown>[]) => Record<string, unknown>[]): Promise<void> {
  const records = edit((await lines()).map((l) => JSON.parse(l)));
  let prev = "0".repeat(64);
  const out: string[] = [];
  for (const { prev: _p, hash: _h, mac: _m, ...body } of records) {
    const sealed = sealRecord(body as Parameters<typeof sealRecord>[0], prev);
    out.push(sealed.line);
    prev = sealed.record.hash;
  }
  await writeFile(path, out.join(""));
  await writeFile(`${path}.head`, JSON.stringify({ seq: records.length, hash: prev }));
}

describe("the audit key", () => {
  it("is created 0600 on the first append, and MACs every record and the head", async () => {
    await writeLog(4);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "state"))).mode & 0o777).toBe(0o700);
    for (const line of await lines()) expect(JSON.parse(line).mac).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(await readFile(`${path}.head`, "utf8")).mac).toMatch(/^[0-9a-f]{64}$/);
    const key = await readAuditKey(keyPath);
    expect(await verifyAudit(path, { key })).toMatchObject({ ok: true, records: 4, keyed: true });
  });

  it("catches an edit resealed to the end with the head rewritten, which the chain alone cannot", async () => {
    await writeLog(6);
    await forge((records) => records.map((r, i) => (i === 2 ? { ...r, runId: "forged" } : r)));
    expect((await verifyAudit(path)).ok).toBe(true);
    expect(await verifyAudit(path, { key: await readAuditKey(keyPath) })).toMatchObject({
      ok: false,
      records: 0,
      problem: { kind: "forged", code: "AUDIT_MAC_INVALID", line: 1 },
    });
  });

  it("catches trailing records removed with the head rewritten", async () => {
    await writeLog(6);
    const kept = (await lines()).slice(0, 4);
    await writeFile(path, `${kept.join("\n")}\n`);
    await writeFile(`${path}.head`, JSON.stringify({ seq: 4, hash: JSON.parse(kept[3]!).hash }));
    expect((await verifyAudit(path)).ok).toBe(true);
    expect((await verifyAudit(path, { key: await readAuditKey(keyPath) })).problem).toMatchObject({
      kind: "forged",
      code: "AUDIT_MAC_INVALID",
      file: `${path}.head`,
    });
  });

  it("fails a record whose MAC was stripped (its hash still matches), and a wrong key", async () => {
    await writeLog(4);
    const all = await lines();
    all[2] = all[2]!.replace(/,"mac":"[0-9a-f]{64}"/, "");
    await writeFile(path, `${all.join("\n")}\n`);
    expect((await verifyAudit(path)).ok).toBe(true);
    const key = await readAuditKey(keyPath);
    expect((await verifyAudit(path, { key })).problem).toMatchObject({ code: "AUDIT_MAC_INVALID", line: 3 });
    await expect(verifyAudit(path, { key: Buffer.alloc(32, 1) })).resolves.toMatchObject({
      problem: { code: "AUDIT_MAC_INVALID", line: 1 },
    });
  });

  it("is never read or created through a symbolic link", async () => {
    const elsewhere = join(dir, "elsewhere.key");
    await writeFile(elsewhere, `${"ab".repeat(32)}\n`);
    await mkdir(join(dir, "state"));
    await symlink(elsewhere, keyPath);
    await expect(readAuditKey(keyPath)).rejects.toMatchObject({ code: "STATE_SYMLINK_REFUSED" });
    await writeLog(2);
    // Records go on without a MAC rather than under a key someone else chose.
    for (const line of await lines()) expect(JSON.parse(line).mac).toBeUndefined();
    expect(await readFile(elsewhere, "utf8")).toBe(`${"ab".repeat(32)}\n`);
  });

  it("refuses a key file that is not 64 hex digits", async () => {
    await writeLog(1);
    await writeFile(keyPath, "not a key\n");
    await expect(readAuditKey(keyPath)).rejects.toMatchObject({ code: "AUDIT_KEY_UNREADABLE" });
    await expect(readAuditKey(join(dir, "none.key"))).rejects.toMatchObject({ code: "AUDIT_KEY_UNREADABLE" });
  });
});
