import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditRecord } from "../../relay/audit/audit-record.ts";
import { verifyAudit } from "../../relay/index.ts";
import { pidExists } from "../../relay/state/process-owner.ts";
import { main } from "../../scripts/cli/cli.ts";
import type { CliIO } from "../../scripts/cli/cli-io.ts";
import type { RunSummary } from "../../scripts/cli/summarize-runs.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { sinkAudit } from "../helpers/audit-sink.ts";
import { pendingOutboxFiles } from "../helpers/pending-outbox-files.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";
import { E2E_TOKEN, relayConfigFor, startOnRoot } from "./e2e-context.ts";
import { storedOutcome } from "./stored-outcome.ts";

/**
 * Held, not lost (issue 9): `opencode serve` runs with a configuration whose `{env:…}` token is
 * unset (CONFIG_ENV_MISSING). Tagged runs are journalled and audited `held`, nothing is sent, and
 * `audit` lists them as held. Once the variable is set and OpenCode restarted, every held run
 * younger than `delivery.maxAgeMs` is delivered once with the outcome OpenCode stored; an older
 * one gets a DELIVERY_EXPIRED record instead.
 */

const CALLER = "agent:main:e2e-held";

let model: FakeModel;
let receiver: RecordingReceiver;
let first: OpencodeServer;
let second: OpencodeServer | undefined;

const auditPath = () => join(first.dataHome, "opencode-callback-relay", "audit.jsonl");
const audit = (): AuditRecord[] => readAuditRecords(auditPath());
const journalDir = () => join(first.stateHome, "opencode-callback-relay", "journal");

beforeAll(async () => {
  model = await startFakeModel();
  receiver = await startRecordingReceiver();
  // No OCR_E2E_TOKEN in the server's environment: {env:OCR_E2E_TOKEN} is CONFIG_ENV_MISSING.
  first = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    relayConfig: relayConfigFor(receiver.url),
  });
});

afterAll(async () => {
  try {
    if (first) await sinkAudit(auditPath(), { E2E_TOKEN });
  } finally {
    await second?.stop();
    await first?.stop(); // owns the root: removes it
    await Promise.all([model?.close(), receiver?.close()]);
  }
});

async function auditCli(args: string[]): Promise<RunSummary[]> {
  let stdout = "";
  const io: CliIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: () => undefined,
    env: { HOME: first.home },
    cwd: first.projectDir,
    color: false,
  };
  expect(await main(["audit", "--file", auditPath(), "--json", ...args], io)).toBe(0);
  return stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as RunSummary);
}

it("holds tagged runs under a broken configuration and delivers them once it is fixed", async () => {
  const titles = ["completed", "failed", "expired"].map(
    (k) => `Held ${k} runId=run-held-${k} callbackSession=${CALLER}`,
  );
  const sessions = await Promise.all(titles.map((t) => first.createSession(t)));
  const [completed, failed, expired] = sessions;
  if (!completed || !failed || !expired) throw new Error("sessions");
  await first.prompt(completed.id, "hello");
  await first.prompt(failed.id, "[[fake:error status=401]]");
  await first.prompt(expired.id, "hello");
  await first.prompt(completed.id, "a second turn of the same run");

  const held = await waitFor("one held record per run", () => {
    const found = audit().filter((r) => r.phase === "held");
    return found.length >= 3 ? found : undefined;
  });
  // A second held record for a run would also show in the per-run timelines asserted at the end.
  expect(audit().filter((r) => r.phase === "held")).toHaveLength(3);
  expect(held.map((r) => r.code)).toEqual(["CONFIG_ENV_MISSING", "CONFIG_ENV_MISSING", "CONFIG_ENV_MISSING"]);
  expect(audit().filter((r) => r.phase === "config_error")).toHaveLength(1);
  expect(receiver.requests).toEqual([]);
  const listed = await auditCli([]);
  expect(listed.map((r) => r.state)).toEqual(["held", "held", "held"]);
  expect((await auditCli(["--state", "held"])).map((r) => r.sessionId).sort()).toEqual(
    sessions.map((s) => s.id).sort(),
  );

  // One run has been held longer than delivery.maxAgeMs (30 s in this configuration): its entry is
  // dated a minute back, as a run held since before a long weekend would be.
  for (const name of readdirSync(journalDir())) {
    const path = join(journalDir(), name);
    const entry = JSON.parse(readFileSync(path, "utf8")) as { sessionId: string; startedAt: number };
    if (entry.sessionId === expired.id)
      writeFileSync(path, JSON.stringify({ ...entry, startedAt: entry.startedAt - 60_000 }));
  }

  process.kill(first.pid, "SIGTERM");
  await waitFor("the held server to exit", () => (pidExists(first.pid) ? undefined : true), 20_000);
  await first.kill9();
  // The fix: the variable is set; nothing else changes.
  second = await startOnRoot(first.root, model);
  const server = second;

  await waitFor("the two young held runs to be delivered", () =>
    [completed, failed].every((s) => audit().some((r) => r.sessionId === s.id && r.phase === "delivered"))
      ? true
      : undefined,
  );
  const [gaveUp] = await waitFor("the expired run's record", () => {
    const found = audit().filter((r) => r.sessionId === expired.id && r.phase === "failed");
    return found.length > 0 ? found : undefined;
  });
  expect(gaveUp?.code).toBe("DELIVERY_EXPIRED");
  // Every callback is in the outbox before its first attempt: once it holds nothing to send, no
  // further request can come.
  await waitFor("the outbox to hold nothing to send", () =>
    pendingOutboxFiles(join(first.stateHome, "opencode-callback-relay")).length === 0 ? true : undefined,
  );

  expect(receiver.requests).toHaveLength(2);
  for (const session of [completed, failed]) {
    const phases = audit()
      .filter((r) => r.sessionId === session.id)
      .map((r) => r.phase);
    expect(phases).toEqual(["held", "reconciled", "accepted", "attempt", "delivered"]);
    const accepted = audit().find((r) => r.sessionId === session.id && r.phase === "accepted");
    // The first turn's outcome: the run was held at its first busy.
    const stored = (await server.messages(session.id)).slice(0, 2);
    expect(accepted?.outcome).toBe(storedOutcome(stored));
  }
  expect(audit().find((r) => r.sessionId === failed.id && r.phase === "accepted")?.outcome).toBe("failed");
  // Each entry is retired after its run is claimed (or recorded expired), by an unlink that does not
  // hold up the callback: it can land after the `delivered` record. It must land.
  await waitFor("the journal to hold no entry", () =>
    readdirSync(journalDir()).some((n) => n.endsWith(".json")) ? undefined : true,
  );
  const states = new Map((await auditCli([])).map((r) => [r.sessionId, r.state]));
  expect(states.get(completed.id)).toBe("delivered");
  expect(states.get(failed.id)).toBe("delivered");
  expect(states.get(expired.id)).toBe("failed");
  expect(await verifyAudit(auditPath())).toMatchObject({ ok: true });
});
