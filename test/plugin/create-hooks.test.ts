import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PluginInput } from "@opencode-ai/plugin";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHooks } from "../../plugin/create-hooks.ts";
import { defaultAuditPath, defaultStateDir } from "../../relay/config/default-paths.ts";
import { openRunJournal } from "../../relay/state/run-journal.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";
import { TOKEN } from "../helpers/relay-fixture.ts";

let dir: string;
const saved = {
  XDG_DATA_HOME: process.env.XDG_DATA_HOME,
  XDG_STATE_HOME: process.env.XDG_STATE_HOME,
  OPENCODE_CALLBACK_RELAY_CONFIG: process.env.OPENCODE_CALLBACK_RELAY_CONFIG,
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-hooks-"));
  process.env.XDG_DATA_HOME = join(dir, "data");
  process.env.XDG_STATE_HOME = join(dir, "state");
  delete process.env.OPENCODE_CALLBACK_RELAY_CONFIG;
});
afterEach(async () => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await rm(dir, { recursive: true, force: true });
});

/** Plugin init as OpenCode does it, for a bundle installed in `<dir>/config/plugins/`. */
async function init(options: Record<string, unknown>) {
  const configDir = join(dir, "config");
  await mkdir(join(configDir, "plugins"), { recursive: true });
  const moduleUrl = pathToFileURL(join(configDir, "plugins", "opencode-callback-relay.js")).href;
  // A broken configuration must not touch the OpenCode client while runs carry their titles.
  return createHooks(
    { directory: join(dir, "project"), worktree: join(dir, "project") } as PluginInput,
    options,
    moduleUrl,
  );
}

describe("createHooks with unusable configuration", () => {
  it("writes config_error to the default audit path when the configured one cannot be written, and hooks that hold runs", async () => {
    const blocker = join(dir, "not-a-dir");
    await writeFile(blocker, "a regular file where a folder should be");
    const hooks = await init({ target: { url: "not a url" }, audit: { path: join(blocker, "audit.jsonl") } });

    expect(hooks.event).toBeTypeOf("function");
    const fallback = defaultAuditPath(process.env);
    await expect.poll(() => readAuditRecords(fallback).length, { timeout: 5_000 }).toBeGreaterThan(0);
    const [record] = readAuditRecords(fallback);
    expect(record).toMatchObject({ phase: "config_error", code: "CONFIG_INVALID" });
    await expect(readFile(join(blocker, "audit.jsonl"))).rejects.toThrow();
  });

  it("journals a tagged run in the default state dir and writes one held record with the config error's code", async () => {
    const hooks = await init({ target: { url: "not a url" } });
    const title = "Held runId=run%2Dheld callbackSession=agent:main:held";
    const event = (type: string, properties: unknown) =>
      void hooks.event?.({ event: { type, properties } as never });
    event("session.created", { info: { id: "ses_held", title } });
    for (let turn = 0; turn < 2; turn++) {
      event("session.status", { sessionID: "ses_held", status: { type: "busy" } });
      event("session.status", { sessionID: "ses_held", status: { type: "idle" } });
    }

    const fallback = defaultAuditPath(process.env);
    await expect
      .poll(() => readAuditRecords(fallback).filter((r) => r.phase === "held").length, { timeout: 5_000 })
      .toBe(1);
    const held = readAuditRecords(fallback).find((r) => r.phase === "held");
    // The decoded runId is the run's identity.
    expect(held).toMatchObject({ code: "CONFIG_INVALID", sessionId: "ses_held", runId: "run-held" });
    const { entries } = await openRunJournal(defaultStateDir(process.env)).list();
    expect(entries).toMatchObject([
      { sessionId: "ses_held", runId: "run-held", pinnedTitle: title, heldCode: "CONFIG_INVALID" },
    ]);
    expect(entries[0]?.owner.pid).toBe(process.pid);
  });
});

describe("createHooks with a usable configuration", () => {
  it("readies the relay's folders when a tagged run begins, so its end can be staged on the hook's stack", async () => {
    const hooks = await init({
      target: { url: "http://127.0.0.1:9/hooks", token: TOKEN },
      callbackSessionPrefixes: ["agent:main:"],
    });
    const stateDir = defaultStateDir(process.env);
    const ready = () =>
      existsSync(join(stateDir, "dedupe")) && existsSync(join(stateDir, "outbox", "staged"));
    const event = (type: string, properties: unknown) =>
      void hooks.event?.({ event: { type, properties } as never });
    event("session.created", { info: { id: "ses_p", title: "P runId=run-p callbackSession=agent:main:p" } });
    // Not made at start-up (recovery and the journal make none of them: without the call at the
    // run's start this test times out below).
    expect(ready()).toBe(false);
    event("session.status", { sessionID: "ses_p", status: { type: "busy" } });
    await expect.poll(ready, { timeout: 5_000 }).toBe(true);
  });
});
