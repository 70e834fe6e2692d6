import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import { MAX_LINE_BYTES } from "../../../relay/audit/parse-audit-line.ts";
import { verifyAudit } from "../../../relay/audit/verify-audit.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "audit-writer-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the audit writer", () => {
  it("writes a record whose line would pass the readers' bound as a stub with its ids, so the log still verifies", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path });
    await log.append({
      phase: "attempt",
      runId: "run-1",
      sessionId: "ses_1",
      responseExcerpt: "x".repeat(MAX_LINE_BYTES),
    });
    await log.append({ phase: "delivered", runId: "run-1", sessionId: "ses_1" });
    const lines = (await readFile(path, "utf8")).trimEnd().split("\n");
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    const [stub] = lines.map((l) => JSON.parse(l));
    expect(stub).toMatchObject({ phase: "attempt", runId: "run-1", sessionId: "ses_1" });
    expect(stub.oversized).toBeGreaterThan(MAX_LINE_BYTES);
    expect(stub.responseExcerpt).toBeUndefined();
    expect(await verifyAudit(path)).toMatchObject({ ok: true, records: 2 });
  });
});
