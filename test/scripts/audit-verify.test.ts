import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../relay/audit/audit-log.ts";
import { sealRecord } from "../../relay/audit/hash-record.ts";
import { main } from "../../scripts/cli/cli.ts";
import type { CliIO } from "../../scripts/cli/cli-io.ts";

let dir: string;
let log: string;
let stateDir: string;
let configDir: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "audit-verify-cli-"));
  log = join(dir, "log", "audit.jsonl");
  stateDir = join(dir, "state");
  configDir = join(dir, "opencode");
  await mkdir(configDir);
  await writeFile(
    join(configDir, "callback-relay.jsonc"),
    JSON.stringify({ target: { url: "http://127.0.0.1:18789/hooks" }, audit: { path: log }, stateDir }),
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { HOME: dir, XDG_CONFIG_HOME: join(dir, "no-config") },
    cwd: dir,
    color: false,
  };
  const code = await main(["audit", ...args], io);
  return { code, stdout, stderr };
}

async function writeLog(count: number, keyed = true): Promise<string[]> {
  const audit = openAuditLog({ path: log, ...(keyed ? { keyPath: join(stateDir, "audit.key") } : {}) });
  for (let i = 1; i <= count; i++) void audit.append({ phase: "attempt", runId: `run-${i}`, attempt: i });
  await audit.flush();
  return (await readFile(log, "utf8")).slice(0, -1).split("\n");
}

async function rewrite(lines: string[], head: { seq: number; hash: string }): Promise<void> {
  await writeFile(log, `${lines.join("\n")}\n`);
  await writeFile(`${log}.head`, JSON.stringify(head));
}

describe("audit verify", () => {
  it("prints JSON with a code for a 100,000-deep line, instead of crashing", async () => {
    const lines = await writeLog(2, false);
    await writeFile(log, `${[...lines, `{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`].join("\n")}\n`);
    const { code, stdout } = await run(["--file", log, "verify", "--json"]);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({
      ok: false,
      records: 2,
      problem: { kind: "malformed", code: "AUDIT_LINE_TOO_DEEP", line: 3 },
    });
  });

  it("checks --anchor SEQ:HASH: trailing records removed and the head rewritten exit 1", async () => {
    const lines = await writeLog(6, false);
    const anchor = `5:${JSON.parse(lines[4]!).hash}`;
    expect((await run(["--file", log, "verify", "--anchor", anchor])).code).toBe(0);
    await rewrite(lines.slice(0, 3), { seq: 3, hash: JSON.parse(lines[2]!).hash });
    expect((await run(["--file", log, "verify"])).code).toBe(0);
    const { code, stdout } = await run(["--file", log, "verify", "--anchor", anchor, "--json"]);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ problem: { code: "AUDIT_ANCHOR_MISMATCH" } });
  });

  it("refuses an anchor that is not SEQ:HASH (exit 2), and --anchor outside verify", async () => {
    await writeLog(1, false);
    expect((await run(["--file", log, "verify", "--anchor", "5:abc"])).code).toBe(2);
    expect((await run(["--file", log, "--anchor", `1:${"a".repeat(64)}`])).code).toBe(2);
  });

  it("checks MACs with the key in the configuration's stateDir, or --key: a resealed edit exits 1", async () => {
    const lines = await writeLog(4);
    const ok = await run(["--config-dir", configDir, "verify"]);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain("MACs checked");
    // A forger without the key reseals record 4 and the head.
    const { prev, hash: _h, mac: _m, ...body } = JSON.parse(lines[3]!);
    const forged = sealRecord({ ...body, runId: "forged" }, prev);
    await rewrite([...lines.slice(0, 3), forged.line.trimEnd()], { seq: 4, hash: forged.record.hash });
    expect((await run(["--file", log, "verify"])).code).toBe(0); // no key: the chain alone holds
    for (const args of [
      ["--config-dir", configDir, "verify", "--json"],
      ["--file", log, "verify", "--key", join(stateDir, "audit.key"), "--json"],
    ]) {
      const { code, stdout } = await run(args);
      expect(code).toBe(1);
      expect(JSON.parse(stdout)).toMatchObject({
        keyed: true,
        problem: { code: "AUDIT_MAC_INVALID", line: 4 },
      });
    }
  });

  it("exits 1 when --key names no usable key", async () => {
    await writeLog(1);
    const { code, stderr } = await run(["--file", log, "verify", "--key", join(dir, "none.key")]);
    expect(code).toBe(1);
    expect(stderr).toContain("AUDIT_KEY_UNREADABLE");
  });
});
