import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { doctor } from "../../scripts/cli/commands/doctor.ts";
import type { DoctorCheck } from "../../scripts/cli/commands/doctor-check.ts";
import { startReceiver } from "../../scripts/cli/start-receiver.ts";
import { type CapturedIO, captureIO } from "../helpers/capture-io.ts";
import { type GatewayHooks, openclawGatewayResponder } from "../helpers/openclaw-gateway-responder.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const TOKEN = "doctor-test-token-7f3a9c";

let tmp: string;
let home: string;
let project: string;
let globalDir: string;
let gateway: RecordingReceiver;
let hooks: GatewayHooks;
let env: Record<string, string | undefined>;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-doctor-"));
  home = path.join(tmp, "home");
  project = path.join(tmp, "project");
  globalDir = path.join(home, ".config", "opencode");
  await mkdir(path.join(project, ".git"), { recursive: true });
  hooks = {
    enabled: true,
    token: TOKEN,
    allowRequestSessionKey: true,
    allowedSessionKeyPrefixes: ["hook:", "agent:main:"],
  };
  gateway = await startRecordingReceiver(openclawGatewayResponder(hooks));
  // No PATH: `opencode` is not found, a warning; the tests that need it pass --opencode.
  env = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    OPENCLAW_HOOKS_TOKEN: TOKEN,
  };
  await installInto(globalDir);
  await writeRelayConfig(globalDir, {
    target: { url: `${gateway.url}/hooks`, token: "{env:OPENCLAW_HOOKS_TOKEN}" },
  });
  await writeGatewayConfig(hooks);
});

afterEach(async () => {
  await gateway.close();
  await rm(tmp, { recursive: true, force: true });
});

async function installInto(dir: string): Promise<void> {
  await mkdir(path.join(dir, "plugins"), { recursive: true });
  await writeFile(
    path.join(dir, "plugins", "opencode-callback-relay.js"),
    "export const CallbackRelay = async () => ({});\n",
  );
}

async function writeRelayConfig(dir: string, config: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "callback-relay.jsonc"), `// test\n${JSON.stringify(config, null, 2)}\n`);
}

/** The gateway's openclaw.json, in JSON5 as OpenClaw's docs write it: unquoted keys, comments, trailing commas. */
async function writeGatewayConfig(h: GatewayHooks): Promise<void> {
  await mkdir(path.join(home, ".openclaw"), { recursive: true });
  const prefixes = h.allowedSessionKeyPrefixes?.map((p) => `'${p}'`).join(", ");
  await writeFile(
    path.join(home, ".openclaw", "openclaw.json"),
    `// written by the test\n{\n  gateway: { mode: "local", bind: "loopback", },\n  hooks: {\n    enabled: ${h.enabled ?? false},\n    token: "${h.token}",\n    allowRequestSessionKey: ${h.allowRequestSessionKey ?? false},\n${prefixes === undefined ? "" : `    allowedSessionKeyPrefixes: [${prefixes},],\n`}  },\n}\n`,
  );
}

async function run(
  args: string[] = [],
): Promise<{ code: number; ok: boolean; checks: DoctorCheck[]; io: CapturedIO }> {
  const io = captureIO(project, env);
  const code = await doctor(["--json", ...args], io);
  const parsed = JSON.parse(io.out()) as { ok: boolean; checks: DoctorCheck[] };
  return { code, ...parsed, io };
}

const byId = (checks: DoctorCheck[], id: string) => checks.find((c) => c.id === id);
const failed = (checks: DoctorCheck[]) => checks.filter((c) => c.status === "fail").map((c) => c.id);

describe("doctor", () => {
  it("passes a working setup with one request that starts nothing: an empty /hooks/agent body", async () => {
    const { code, ok, checks } = await run();
    expect(failed(checks)).toEqual([]);
    expect(code).toBe(0);
    expect(ok).toBe(true);
    expect(byId(checks, "target.auth")?.status).toBe("ok");
    expect(byId(checks, "gateway.allowRequestSessionKey")).toBeUndefined();
    expect(byId(checks, "gateway.allowedSessionKeyPrefixes")?.status).toBe("ok");
    expect(gateway.requests).toHaveLength(1);
    expect(gateway.requests[0]!.path).toBe("/hooks/agent");
    expect(gateway.requests[0]!.json).toEqual({});
  });

  it("prints only JSON with --json, and readable ✓/✗ lines without it", async () => {
    const { io } = await run();
    expect(() => JSON.parse(io.out())).not.toThrow();
    const text = captureIO(project, env);
    expect(await doctor([], text)).toBe(0);
    expect(text.out()).toMatch(/^✓ /m);
  });

  it("names every missing {env:…} and sends nothing", async () => {
    delete env.OPENCLAW_HOOKS_TOKEN;
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "env:OPENCLAW_HOOKS_TOKEN")).toMatchObject({
      status: "fail",
      code: "CONFIG_ENV_MISSING",
    });
    expect(byId(checks, "config")).toMatchObject({ status: "fail", code: "CONFIG_ENV_MISSING" });
    expect(gateway.requests).toHaveLength(0);
  });

  it("reports a {file:…} reference whose file is missing", async () => {
    await writeRelayConfig(globalDir, {
      target: { url: `${gateway.url}/hooks`, token: "{file:./hooks-token}" },
    });
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "file:./hooks-token")?.status).toBe("fail");
    await writeFile(path.join(globalDir, "hooks-token"), TOKEN);
    expect(byId((await run()).checks, "file:./hooks-token")?.status).toBe("ok");
  });

  it("refuses a token with a trailing newline before asking the gateway", async () => {
    env.OPENCLAW_HOOKS_TOKEN = `${TOKEN}\n`;
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "target.token")).toMatchObject({ status: "fail", code: "CONFIG_INVALID" });
    // Not sent: it would only count toward the gateway's failed-auth lockout.
    expect(gateway.requests).toHaveLength(0);
  });

  it("fails a webhook target without a secret", async () => {
    await writeRelayConfig(globalDir, { target: { kind: "webhook", url: `${gateway.url}/in` } });
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "target.secret")).toMatchObject({ status: "fail", code: "CONFIG_INVALID" });
  });

  it("reports a token the gateway refuses (401), with one request only", async () => {
    env.OPENCLAW_HOOKS_TOKEN = "not-the-token";
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(failed(checks)).toEqual(["target.auth"]);
    expect(byId(checks, "target.auth")?.code).toBe("DELIVERY_UNAUTHORIZED");
    expect(gateway.requests).toHaveLength(1);
  });

  it("says when the gateway has locked this client out (429) after 20 failed auths", async () => {
    for (let i = 0; i < 20; i++)
      await fetch(`${gateway.url}/hooks/agent`, {
        method: "POST",
        headers: { authorization: "Bearer wrong" },
        body: "{}",
      });
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "target.auth")).toMatchObject({ status: "fail", code: "DELIVERY_HTTP_STATUS" });
    expect(gateway.requests.at(-1)!.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("reports an unreachable gateway", async () => {
    await gateway.close();
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "target.reachable")).toMatchObject({ status: "fail", code: "DELIVERY_NETWORK" });
  });

  it("reads the gateway's openclaw.json: allowRequestSessionKey off, prefixes not admitting the configured ones", async () => {
    await writeGatewayConfig({
      ...hooks,
      allowRequestSessionKey: false,
      allowedSessionKeyPrefixes: ["hook:", "agent:ops:"],
    });
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "gateway.allowRequestSessionKey")).toMatchObject({
      status: "fail",
      code: "DELIVERY_SESSION_KEY_DISABLED",
    });
    expect(byId(checks, "gateway.allowedSessionKeyPrefixes")).toMatchObject({
      status: "fail",
      code: "DELIVERY_SESSION_KEY_PREFIX",
    });
  });

  it("warns, and says how to verify, when the gateway's configuration cannot be read", async () => {
    await rm(path.join(home, ".openclaw"), { recursive: true });
    const { code, checks } = await run();
    expect(byId(checks, "gateway.config")?.status).toBe("warn");
    expect(byId(checks, "gateway.config")?.fix).toBeDefined();
    expect(code).toBe(0);
    expect((await run(["--strict"])).code).toBe(1);
  });

  it("finds the option-dropping trap: a folder copy and a plugin array entry with options", async () => {
    await writeFile(
      path.join(globalDir, "opencode.json"),
      JSON.stringify({
        plugin: [["./vendor/opencode-callback-relay.js", { target: { url: "http://x/hooks" } }]],
      }),
    );
    const { code, checks } = await run();
    expect(code).toBe(1);
    expect(byId(checks, "registrations.options-dropped")?.status).toBe("fail");
  });

  it("finds a global and a project install that would both load, and a missing one", async () => {
    await installInto(path.join(project, ".opencode"));
    const twice = await run();
    expect(twice.code).toBe(1);
    expect(byId(twice.checks, "registrations")?.status).toBe("fail");
    await rm(path.join(project, ".opencode"), { recursive: true });
    await rm(path.join(globalDir, "plugins"), { recursive: true });
    const none = await run();
    expect(none.code).toBe(1);
    expect(byId(none.checks, "registrations")?.status).toBe("fail");
  });

  it("loads the configuration from the project install's config dir, as the plugin would", async () => {
    await rm(path.join(globalDir, "plugins"), { recursive: true });
    await rm(path.join(globalDir, "callback-relay.jsonc"));
    const projectDir = path.join(project, ".opencode");
    await installInto(projectDir);
    await writeRelayConfig(projectDir, {
      target: { url: `${gateway.url}/hooks`, token: "{env:OPENCLAW_HOOKS_TOKEN}" },
    });
    const { code, checks } = await run();
    expect(failed(checks)).toEqual([]);
    expect(code).toBe(0);
  });

  it("fails a state dir that cannot be created, and warns on an audit folder open to others", async () => {
    const blocker = path.join(tmp, "a-file");
    await writeFile(blocker, "");
    const auditDir = path.join(tmp, "audit");
    await mkdir(auditDir, { mode: 0o755 });
    await chmod(auditDir, 0o755);
    await writeRelayConfig(globalDir, {
      target: { url: `${gateway.url}/hooks`, token: "{env:OPENCLAW_HOOKS_TOKEN}" },
      stateDir: path.join(blocker, "state"),
      audit: { path: path.join(auditDir, "audit.jsonl") },
    });
    const { checks } = await run();
    expect(byId(checks, "stateDir")).toMatchObject({ status: "fail", code: "STATE_UNWRITABLE" });
    expect(byId(checks, "audit.dir")?.status).toBe("warn");
  });

  it("asks the given opencode binary for its version", async () => {
    const { checks } = await run(["--opencode", path.join(root, "node_modules", ".bin", "opencode")]);
    expect(byId(checks, "opencode")?.status).toBe("ok");
    const missing = await run(["--opencode", path.join(tmp, "no-such-opencode")]);
    expect(byId(missing.checks, "opencode")?.status).toBe("fail");
  });

  it("--send-test sends one labelled callback to the caller session and reports the gateway's answer", async () => {
    const { code, checks } = await run(["--send-test"]);
    expect(byId(checks, "send-test")?.status).toBe("ok");
    expect(code).toBe(0);
    const sent = gateway.requests.filter((r) => (r.json as { message?: unknown }).message !== undefined);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.json).toMatchObject({
      sessionKey: "agent:main:main",
      message: expect.stringContaining("TEST CALLBACK"),
    });
  });

  it("--send-test reports the gateway's refusal with its code", async () => {
    hooks.allowRequestSessionKey = false;
    const { code, checks } = await run([
      "--send-test",
      "--openclaw-config",
      path.join(tmp, "elsewhere.json"),
    ]);
    expect(code).toBe(1);
    expect(byId(checks, "send-test")).toMatchObject({
      status: "fail",
      code: "DELIVERY_SESSION_KEY_DISABLED",
    });
  });

  it("configures from a plugin array entry's options when that is the only registration, as OpenCode passes them", async () => {
    await rm(path.join(globalDir, "plugins"), { recursive: true });
    await rm(path.join(globalDir, "callback-relay.jsonc"));
    await writeFile(
      path.join(globalDir, "opencode.json"),
      JSON.stringify({
        plugin: [
          [
            "./vendor/opencode-callback-relay.js",
            { target: { url: `${gateway.url}/hooks`, token: "{env:OPENCLAW_HOOKS_TOKEN}" } },
          ],
        ],
      }),
    );
    const { code, checks } = await run();
    expect(failed(checks)).toEqual([]);
    expect(code).toBe(0);
    expect(byId(checks, "env:OPENCLAW_HOOKS_TOKEN")?.status).toBe("ok");
  });

  it("--send-test signs a webhook callback that a verifying receiver accepts", async () => {
    const secret = `whsec_${Buffer.from("doctor-webhook-secret-0123456789").toString("base64")}`;
    const received: unknown[] = [];
    const receiver = await startReceiver({ port: 0, secrets: [secret], onCallback: (c) => received.push(c) });
    try {
      env.HOOK_SECRET = secret;
      await writeRelayConfig(globalDir, {
        target: { kind: "webhook", url: `${receiver.url}/in`, secret: "{env:HOOK_SECRET}" },
      });
      const { code, checks } = await run(["--send-test"]);
      expect(byId(checks, "target.reachable")?.status).toBe("warn");
      expect(byId(checks, "send-test")?.status).toBe("ok");
      expect(code).toBe(0);
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ kind: "webhook", callbackSession: "agent:main:main" });
    } finally {
      await receiver.close();
    }
  });

  it("exits 2 for a usage mistake", async () => {
    await expect(doctor(["--session", "agent:main:x"], captureIO(project, env))).rejects.toMatchObject({
      name: "UsageError",
    });
  });
});
