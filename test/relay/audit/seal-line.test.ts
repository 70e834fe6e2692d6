import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../../relay/audit/audit-log.ts";
import type { AuditRecord } from "../../../relay/audit/audit-record.ts";
import { GENESIS_HASH, sealAt, sealLine } from "../../../relay/audit/hash-record.ts";
import { redact, redactInto } from "../../../relay/audit/redact.ts";

type Body = Omit<AuditRecord, "seq" | "prev" | "hash" | "mac">;

/** The body the audit log queued before it was laid out for sealLine: redact()'s copy, then a copy. */
function bodyAsBefore(input: Record<string, unknown>, secrets: string[], ts: string): Body {
  const clean = redact(input, secrets) as Record<string, unknown>;
  const body: Record<string, unknown> = { v: 2, ts };
  for (const key of Object.keys(clean)) {
    if (["v", "ts", "seq", "prev", "hash", "mac"].includes(key)) continue;
    if (key === "__proto__")
      Object.defineProperty(body, key, {
        value: clean[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else body[key] = clean[key];
  }
  body.phase = String(input.phase);
  return body as Body;
}

function bodyNow(input: Record<string, unknown>, secrets: string[], ts: string): Body {
  const body: Record<string, unknown> = { v: 2, ts, phase: String(input.phase) };
  redactInto(body, input, secrets, new Set(["v", "ts", "seq", "prev", "hash", "mac", "phase"]));
  return body as Body;
}

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.date({ noInvalidDate: false }),
  fc.constant(new Error("boom")),
  fc.constant(Number.NaN),
);
const input = fc
  .tuple(
    fc.constantFrom("accepted", "attempt", "delivered", "failed"),
    fc.dictionary(
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom("v", "seq", "hash", "__proto__", "0", "12", "token", "prev"),
      ),
      value,
      { maxKeys: 8 },
    ),
  )
  .map(([phase, fields]) => ({ ...fields, phase }));

describe("sealing a queued record", () => {
  it("writes the same bytes as before it was laid out for sealLine, for any fields, keys and secrets", () => {
    fc.assert(
      fc.property(
        input,
        fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 3 }),
        fc.nat({ max: 1_000_000 }),
        fc.oneof(hex64, fc.constant(GENESIS_HASH)),
        fc.boolean(),
        (fields, secrets, seq, prev, keyed) => {
          const ts = "2026-12-04T18:00:00.000Z";
          const mac = keyed ? (hash: string) => `m${hash.slice(1)}` : undefined;
          const before = sealAt(bodyAsBefore(fields, secrets, ts), seq, prev, mac);
          const now = sealLine(bodyNow(fields, secrets, ts), seq, prev, mac);
          expect(now.line).toBe(before.line);
          expect(now.hash).toBe(before.record.hash);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("falls back to sealAt for a body not laid out as a line begins (an integer-like key is listed first)", () => {
    const body = { v: 2, ts: "2026-12-04T18:00:00.000Z", phase: "accepted", 7: "x" } as unknown as Body;
    const now = sealLine(body, 3, GENESIS_HASH);
    expect(now.line).toBe(sealAt(body, 3, GENESIS_HASH).line);
    expect(now.line.startsWith('{"7":"x","v":2,"seq":3,')).toBe(true);
  });
});

describe("the audit log's queue", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "seal-line-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("resolves each append only once its record is in the file, records appended together sharing a batch or not", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path });
    // More than one batch takes (2,000), appended in one tick, then more while the first is written.
    const first = Array.from({ length: 2_500 }, (_, i) => log.append({ phase: "accepted", runId: `a-${i}` }));
    await new Promise((resolve) => setImmediate(resolve));
    const later = Array.from({ length: 10 }, (_, i) => log.append({ phase: "delivered", runId: `b-${i}` }));
    const written = async () =>
      (await readFile(path, "utf8"))
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).runId);
    await first[0];
    expect((await written()).slice(0, 2_500)).toEqual(Array.from({ length: 2_500 }, (_, i) => `a-${i}`));
    await later[9];
    const all = await written();
    expect(all).toHaveLength(2_510);
    expect(all.slice(2_500)).toEqual(Array.from({ length: 10 }, (_, i) => `b-${i}`));
    // And one appended once all is written: a promise of its own, not one that resolved already.
    await log.append({ phase: "failed", runId: "c-0" });
    expect((await written()).at(-1)).toBe("c-0");
  });
});
