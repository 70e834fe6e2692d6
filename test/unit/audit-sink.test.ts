import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../relay/audit/audit-log.ts";
import {
  AUDIT_SINK_ENV,
  checkAuditSink,
  describeLeaks,
  findLeaks,
  readSinkEntries,
  type SinkEntry,
} from "../helpers/audit-leaks.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";

// Planted on purpose, into a private collection folder (never the suite's, or the run would fail).
const PLANTED = "planted-secret-7d41c0e2";

let dir: string;
let sink: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-sink-test-"));
  sink = join(dir, "sink");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (fields: Record<string, unknown>) =>
  `${JSON.stringify({ v: 1, phase: "attempt", ...fields })}\n`;

function entry(testFile: string, lines: string[], secrets: Record<string, string> = {}): SinkEntry {
  return {
    testFile,
    testName: "",
    files: [{ path: `${testFile}.audit.jsonl`, lines }],
    secrets: Object.entries(secrets).map(([name, value]) => ({ name, value })),
  };
}

describe("findLeaks", () => {
  it("finds a secret in its own entry's lines, by file, line and name, without its value", () => {
    const leaks = findLeaks([
      entry("a.test.ts", ['{"ok":1}', `{"reason":"sent ${PLANTED}"}`], { TOKEN: PLANTED }),
    ]);
    expect(leaks).toEqual([
      { testFile: "a.test.ts", file: "a.test.ts.audit.jsonl", line: 2, secret: "TOKEN" },
    ]);
    expect(describeLeaks(leaks)).not.toContain(PLANTED);
  });

  it("finds one test's secret in another test's log", () => {
    const leaks = findLeaks([
      entry("a.test.ts", ['{"ok":1}'], { TOKEN: PLANTED }),
      entry("b.test.ts", [`{"url":"http://x/?k=${PLANTED}"}`]),
    ]);
    expect(leaks).toMatchObject([{ testFile: "b.test.ts", line: 1, secret: "TOKEN" }]);
  });

  it("finds nothing in clean lines", () => {
    expect(findLeaks([entry("a.test.ts", ['{"reason":"[redacted]"}'], { TOKEN: PLANTED })])).toEqual([]);
  });
});

describe("sinkAudit", () => {
  it("collects every line of the active and rotated files with the secrets, and passes a clean log", async () => {
    const path = join(dir, "audit.jsonl");
    const log = openAuditLog({ path, maxBytes: 1024, secrets: [PLANTED] });
    for (let i = 0; i < 40; i++) await log.append({ phase: "attempt", reason: `with ${PLANTED} #${i}` });
    await sinkAudit(path, { TOKEN: PLANTED }, { dir: sink });

    const [collected] = await readSinkEntries(sink);
    expect(collected?.files.length).toBeGreaterThan(1); // rotated files and the active one
    expect(collected?.files.flatMap((f) => f.lines)).toHaveLength(40);
    expect(collected?.testFile).toContain("audit-sink.test.ts");
    expect(await checkAuditSink(sink)).toEqual({ entries: 1, lines: 40, secrets: 1 });
  });

  it("fails on a planted secret, in a rotated file too, after collecting it for the run", async () => {
    const path = join(dir, "audit.jsonl");
    await writeFile(`${path}.1`, line({ reason: `Bearer ${PLANTED}` }));
    await writeFile(path, line({ reason: "clean" }));
    await expect(sinkAudit(path, { TOKEN: PLANTED }, { dir: sink })).rejects.toMatchObject({
      code: "AUDIT_SINK_LEAK",
    });
    await expect(checkAuditSink(sink)).rejects.toMatchObject({ code: "AUDIT_SINK_LEAK" });
    const error = await checkAuditSink(sink).catch((e: Error) => e);
    expect(String(error)).not.toContain(PLANTED);
  });

  it("takes a fallback file as one more path", async () => {
    const path = join(dir, "audit.jsonl");
    const fallback = join(dir, "fallback.jsonl");
    await writeFile(fallback, line({ reason: PLANTED }));
    await expect(sinkAudit([path, fallback], [PLANTED], { dir: sink })).rejects.toMatchObject({
      code: "AUDIT_SINK_LEAK",
    });
  });

  it("fails on a line that is not JSON, and on a torn last line", async () => {
    const path = join(dir, "audit.jsonl");
    await writeFile(path, `${line({})}not json\n`);
    await expect(sinkAudit(path, [], { dir: sink })).rejects.toMatchObject({ code: "AUDIT_SINK_NOT_JSON" });
    await writeFile(path, `${line({})}{"v":1,"pha`);
    await expect(sinkAudit(path, [], { dir: sink })).rejects.toMatchObject({ code: "AUDIT_SINK_TORN_LINE" });
  });

  it("refuses a secret too short to grep for without false alarms", async () => {
    await expect(sinkAudit(join(dir, "none.jsonl"), ["short"], { dir: sink })).rejects.toMatchObject({
      code: "AUDIT_SINK_BAD_SECRET",
    });
  });

  it("feeds the suite's folder, which the global setup names, when no dir is given", async () => {
    const suiteDir = process.env[AUDIT_SINK_ENV];
    expect(suiteDir).toBeTruthy();
    const before = (await readdir(suiteDir as string)).length;
    const path = join(dir, "audit.jsonl");
    await writeFile(path, line({ reason: "clean" }));
    await sinkAudit(path, { TOKEN: PLANTED });
    expect((await readdir(suiteDir as string)).length).toBe(before + 1);
  });
});

describe("checkAuditSink", () => {
  it("fails when nothing was collected, so the check cannot pass vacuously", async () => {
    await expect(checkAuditSink(sink)).rejects.toMatchObject({ code: "AUDIT_SINK_EMPTY" });
    await sinkAudit(join(dir, "missing.jsonl"), [], { dir: sink });
    await expect(checkAuditSink(sink)).rejects.toMatchObject({ code: "AUDIT_SINK_EMPTY" });
  });

  it("fails when a file that writes audit logs fed nothing", async () => {
    const path = join(dir, "audit.jsonl");
    await writeFile(path, line({}));
    await sinkAudit(path, [], { dir: sink });
    const self = expect.getState().testPath as string;
    await expect(checkAuditSink(sink, { testFiles: [self] })).resolves.toMatchObject({ lines: 1 });
    await expect(
      checkAuditSink(sink, { testFiles: [self, "/elsewhere/other.test.ts"] }),
    ).rejects.toMatchObject({
      code: "AUDIT_SINK_NOT_FED",
    });
  });
});
