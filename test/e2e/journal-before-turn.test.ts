import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { type JournalEntry, journalEntryIn } from "../../relay/state/run-journal.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";
import { E2E_TOKEN, relayConfigFor } from "./e2e-context.ts";

/**
 * Durable from first sight (issue 9): a tagged run is journalled from the prompt hook OpenCode
 * awaits (`chat.message`), so its entry is on disk before the session even goes busy. A probe
 * plugin in the same process notes the time of each `busy` status; the entry's `journalledAt`
 * (same clock) must come first. Written from the `busy` event instead, it comes after.
 */

const PROBE = `
import { appendFileSync } from "node:fs";
export const busyProbe = async () => ({
  event: async ({ event }) => {
    if (event.type === "session.status" && event.properties?.status?.type === "busy")
      appendFileSync(process.env.OCR_BUSY_LOG, JSON.stringify({ sessionId: event.properties.sessionID, at: Date.now() }) + "\\n");
  },
});
`;

let model: FakeModel;
let receiver: RecordingReceiver;
let server: OpencodeServer;
let probeDir: string;
const busyLog = () => join(probeDir, "busy.jsonl");
const auditPath = () => join(server.dataHome, "opencode-callback-relay", "audit.jsonl");

beforeAll(async () => {
  probeDir = mkdtempSync(join(tmpdir(), "ocr-busy-probe-"));
  model = await startFakeModel();
  receiver = await startRecordingReceiver();
  server = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    relayConfig: relayConfigFor(receiver.url),
    extraPlugins: { "busy-probe.js": PROBE },
    env: { OCR_E2E_TOKEN: E2E_TOKEN, OCR_BUSY_LOG: busyLog() },
  });
});

afterAll(async () => {
  try {
    if (server) await sinkAudit(auditPath(), { E2E_TOKEN });
  } finally {
    await server?.stop();
    await Promise.all([model?.close(), receiver?.close()]);
    rmSync(probeDir, { recursive: true, force: true });
  }
});

function journalled(sessionId: string): JournalEntry | undefined {
  const dir = join(server.stateHome, "opencode-callback-relay", "journal");
  try {
    for (const name of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
      const entry = journalEntryIn(readFileSync(join(dir, name), "utf8"), name);
      if (entry?.sessionId === sessionId) return entry;
    }
  } catch {
    // No journal yet.
  }
  return undefined;
}

it("journals a tagged run before its session goes busy, then calls back once", async () => {
  const session = await server.createSession("Durable runId=run-first-sight callbackSession=agent:main:main");
  // The model hangs, so the run stays in progress (its entry is retired once it is claimed).
  await server.promptAsync(session.id, "[[fake:hang]]");
  await waitFor("the model to be asked", () => (model.requests.length > 0 ? true : undefined));
  const entry = journalled(session.id);
  expect(entry, "journalled while its turn runs").toBeDefined();
  const busy = readFileSync(busyLog(), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { sessionId: string; at: number })
    .filter((b) => b.sessionId === session.id);
  expect(busy.length).toBeGreaterThan(0);
  expect(entry?.journalledAt).toBeLessThanOrEqual(busy[0]?.at ?? 0);
  expect(entry?.startedAt).toBeLessThanOrEqual(busy[0]?.at ?? 0);

  model.release();
  await waitFor("the callback to be delivered", () =>
    readAuditRecords(auditPath()).some(
      (r: AuditRecord) => r.sessionId === session.id && r.phase === "delivered",
    )
      ? true
      : undefined,
  );
  expect(receiver.requests).toHaveLength(1);
  await waitFor("the entry to be retired once claimed", () => (journalled(session.id) ? undefined : true));
});
