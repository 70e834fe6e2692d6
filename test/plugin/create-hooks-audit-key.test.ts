import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PluginInput } from "@opencode-ai/plugin";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHooks } from "../../plugin/create-hooks.ts";
import { readAuditKey } from "../../relay/audit/audit-key.ts";
import { verifyAudit } from "../../relay/audit/verify-audit.ts";
import { readAuditRecords } from "../helpers/read-audit-records.ts";

let dir: string;
const saved = process.env.OPENCODE_CALLBACK_RELAY_CONFIG;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-hooks-key-"));
  delete process.env.OPENCODE_CALLBACK_RELAY_CONFIG;
});
afterEach(async () => {
  if (saved === undefined) delete process.env.OPENCODE_CALLBACK_RELAY_CONFIG;
  else process.env.OPENCODE_CALLBACK_RELAY_CONFIG = saved;
  await rm(dir, { recursive: true, force: true });
});

describe("createHooks and the audit key", () => {
  it("MACs the audit log with audit.key in the configured stateDir, even while the configuration is unusable", async () => {
    const configDir = join(dir, "config");
    await mkdir(join(configDir, "plugins"), { recursive: true });
    const moduleUrl = pathToFileURL(join(configDir, "plugins", "opencode-callback-relay.js")).href;
    const auditPath = join(dir, "audit", "audit.jsonl");
    const stateDir = join(dir, "state");
    await createHooks(
      {} as PluginInput,
      { target: { url: "not a url" }, audit: { path: auditPath }, stateDir },
      moduleUrl,
    );

    await expect.poll(() => readAuditRecords(auditPath).length, { timeout: 5_000 }).toBeGreaterThan(0);
    const [record] = readAuditRecords(auditPath);
    expect(record).toMatchObject({
      phase: "config_error",
      code: "CONFIG_INVALID",
      mac: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect((await stat(join(stateDir, "audit.key"))).mode & 0o777).toBe(0o600);
    await expect
      .poll(
        async () =>
          (await verifyAudit(auditPath, { key: await readAuditKey(join(stateDir, "audit.key")) })).ok,
      )
      .toBe(true);
  });
});
