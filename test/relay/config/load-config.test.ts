import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultAuditPath, defaultStateDir } from "../../../relay/config/default-paths.ts";
import { type LoadConfigResult, loadConfig } from "../../../relay/config/load-config.ts";

let dir: string;
let env: Record<string, string | undefined>;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "load-config-"));
  env = {
    HOME: path.join(dir, "home"),
    XDG_DATA_HOME: path.join(dir, "data"),
    XDG_STATE_HOME: path.join(dir, "state"),
    XDG_CONFIG_HOME: path.join(dir, "xdg-config"),
  };
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(text: string, name = "callback-relay.jsonc"): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

function ok(result: LoadConfigResult) {
  if (!result.ok) throw new Error(`expected ok, got ${result.error.code}: ${result.error.message}`);
  return result.value;
}

function failed(result: LoadConfigResult) {
  if (result.ok) throw new Error("expected a failure");
  return result;
}

const minimal = `{ "target": { "url": "http://127.0.0.1:18789/hooks" } }`;

describe("loadConfig", () => {
  it("loads a valid file, applies defaults and resolves default paths", async () => {
    const file = writeConfig(minimal);
    const value = ok(await loadConfig({ configDir: dir, env }));
    expect(value.file).toBe(file);
    expect(value.config.target).toMatchObject({
      kind: "openclaw-agent",
      sessionMode: "persistent",
      maxBodyBytes: 262_144,
    });
    expect(value.config.callbackSessionPrefixes).toEqual(["agent:main:"]);
    expect(value.config.integrity.onAgentMismatch).toBe("report");
    expect(value.auditPath).toBe(path.join(dir, "data", "opencode-callback-relay", "audit.jsonl"));
    expect(value.stateDir).toBe(path.join(dir, "state", "opencode-callback-relay"));
    expect(value.config.audit.path).toBe(value.auditPath);
    expect(value.config.stateDir).toBe(value.stateDir);
    expect(value.secrets).toEqual([]);
  });

  it("looks in the XDG config dir when no configDir is given", async () => {
    mkdirSync(path.join(dir, "xdg-config", "opencode"), { recursive: true });
    writeFileSync(path.join(dir, "xdg-config", "opencode", "callback-relay.jsonc"), minimal);
    expect(ok(await loadConfig({ env })).file).toBe(
      path.join(dir, "xdg-config", "opencode", "callback-relay.jsonc"),
    );
  });

  it("reads JSONC with comments and trailing commas", async () => {
    writeConfig(`// relay config
{
  /* where callbacks go */
  "target": { "url": "http://127.0.0.1:1/hooks", "kind": "openclaw-wake", },
  "callbackSessionPrefixes": ["agent:main:", "hook:",], // trailing
}
`);
    const value = ok(await loadConfig({ configDir: dir, env }));
    expect(value.config.target.kind).toBe("openclaw-wake");
    expect(value.config.callbackSessionPrefixes).toEqual(["agent:main:", "hook:"]);
  });

  it("reports CONFIG_NOT_FOUND when there is neither a file nor options", async () => {
    for (const options of [undefined, {}]) {
      const result = failed(await loadConfig({ configDir: dir, env, ...(options ? { options } : {}) }));
      expect(result.error.code).toBe("CONFIG_NOT_FOUND");
      expect(result.error.details).toMatchObject({ file: path.join(dir, "callback-relay.jsonc") });
      expect(result.auditPath).toBe(defaultAuditPath(env));
    }
  });

  it("uses the plugin options alone when there is no file", async () => {
    const value = ok(
      await loadConfig({
        configDir: dir,
        env,
        options: { target: { url: "http://127.0.0.1:2/hooks" }, audit: { path: "logs/a.jsonl" } },
      }),
    );
    expect(value.file).toBeNull();
    expect(value.config.target.url).toBe("http://127.0.0.1:2/hooks");
    expect(value.auditPath).toBe(path.join(dir, "logs", "a.jsonl"));
  });

  it("lets options override the file: objects merged, arrays replaced", async () => {
    writeConfig(`{
      "target": { "url": "http://127.0.0.1:1/hooks", "name": "FromFile", "token": "file-token" },
      "callbackSessionPrefixes": ["agent:main:", "hook:"],
      "delivery": { "timeoutMs": 5000, "maxAttempts": 3 }
    }`);
    const value = ok(
      await loadConfig({
        configDir: dir,
        env,
        options: {
          target: { name: "FromOptions" },
          callbackSessionPrefixes: ["agent:ops:"],
          delivery: { maxAttempts: 7 },
        },
      }),
    );
    expect(value.config.target).toMatchObject({
      url: "http://127.0.0.1:1/hooks",
      name: "FromOptions",
      token: "file-token",
    });
    expect(value.config.callbackSessionPrefixes).toEqual(["agent:ops:"]);
    expect(value.config.delivery).toMatchObject({ timeoutMs: 5000, maxAttempts: 7 });
    expect(value.secrets).toEqual(["file-token"]);
  });

  it("reports CONFIG_PARSE with the file, line and column", async () => {
    const file = writeConfig(`{\n  "target": {\n    "url": "http://x" oops\n  }\n}`);
    const result = failed(await loadConfig({ configDir: dir, env }));
    expect(result.error.code).toBe("CONFIG_PARSE");
    expect(result.error.details).toMatchObject({ file, line: 3 });
    expect(result.error.message).toContain(file);
    expect(result.file).toBe(file);
  });

  it("reports CONFIG_INVALID for a root that is not an object", async () => {
    writeConfig(`["not", "an", "object"]`);
    expect(failed(await loadConfig({ configDir: dir, env })).error.code).toBe("CONFIG_INVALID");
  });

  it("treats a comment-only file as empty: the schema then names the missing target", async () => {
    writeConfig("// nothing yet\n");
    const result = failed(await loadConfig({ configDir: dir, env }));
    expect(result.error.code).toBe("CONFIG_INVALID");
    expect(result.error.details).toMatchObject({ key: "target" });
  });

  it("reports CONFIG_INVALID naming the file, every bad key and what it expects", async () => {
    const file = writeConfig(`{
      "target": { "url": "ftp://x", "kind": "email" },
      "delivery": { "timeoutMs": -1 },
      "unknownKey": 1,
      "callbackSessionPrefixes": ["agent:main:", ""],
      "audit": { "path": "custom/audit.jsonl" }
    }`);
    const result = failed(await loadConfig({ configDir: dir, env }));
    expect(result.error.code).toBe("CONFIG_INVALID");
    expect(result.error.message).toContain(file);
    const keys = (result.error.details.issues as Array<{ key: string }>).map((i) => i.key).sort();
    expect(keys).toEqual([
      "callbackSessionPrefixes[1]",
      "delivery.timeoutMs",
      "target.kind",
      "target.url",
      "unknownKey",
    ]);
    expect(result.error.details.file).toBe(file);
    // The audit path could be read, so the config_error record goes there.
    expect(result.auditPath).toBe(path.join(dir, "custom", "audit.jsonl"));
  });

  it("substitutes {env:NAME} after parsing and collects the values as secrets", async () => {
    writeConfig(`{
      "target": { "url": "http://127.0.0.1:{env:PORT}/hooks", "token": "{env:HOOK_TOKEN}", "kind": "openclaw-agent" },
      "stateDir": "{env:STATE}/relay"
    }`);
    const token = `sec"ret\\with"quotes"and}braces{é`;
    const value = ok(
      await loadConfig({
        configDir: dir,
        env: { ...env, PORT: "18789", HOOK_TOKEN: token, STATE: "/var/x" },
      }),
    );
    expect(value.config.target.url).toBe("http://127.0.0.1:18789/hooks");
    expect(value.config.target.token).toBe(token);
    expect(value.stateDir).toBe("/var/x/relay");
    expect(value.secrets.sort()).toEqual(["/var/x", "18789", token].sort());
  });

  it("collects literal target.token and target.secret values as secrets", async () => {
    writeConfig(
      `{ "target": { "kind": "webhook", "url": "https://example.test/cb", "secret": ["whsec_a", "whsec_b"] } }`,
    );
    expect(ok(await loadConfig({ configDir: dir, env })).secrets).toEqual(["whsec_a", "whsec_b"]);
  });

  it("reports CONFIG_INVALID naming target.token when {env:…} brings a trailing newline", async () => {
    const file = writeConfig(
      `{ "target": { "url": "http://127.0.0.1:18789/hooks", "token": "{env:HOOK_TOKEN}" } }`,
    );
    const result = failed(
      await loadConfig({ configDir: dir, env: { ...env, HOOK_TOKEN: "tok-1234567890\n" } }),
    );
    expect(result.error.code).toBe("CONFIG_INVALID");
    expect(result.error.details).toMatchObject({ file, key: "target.token", codePoint: "U+000A" });
    expect(result.error.hint).toMatch(/newline/);
    expect(JSON.stringify(result.error)).not.toContain("tok-1234567890");
    expect(result.error.message).not.toContain("tok-1234567890");
  });

  it("reports CONFIG_INVALID naming target.url, pointing to target.token, for credentials in the URL", async () => {
    for (const url of ["http://user:pw@127.0.0.1:18789/hooks", "http://127.0.0.1:18789/hooks?token=abc"]) {
      writeConfig(`{ "target": { "url": "${url}" } }`);
      const result = failed(await loadConfig({ configDir: dir, env }));
      expect(result.error.code).toBe("CONFIG_INVALID");
      expect(result.error.details.key).toBe("target.url");
      expect(result.error.hint).toContain("target.token");
    }
  });

  it("reports CONFIG_ENV_MISSING naming the key path and the variable", async () => {
    const file = writeConfig(
      `{ "target": { "url": "http://x.test/hooks", "token": "{env:NOPE_TOKEN}" }, "audit": { "path": "/tmp/{env:LOGDIR}/a.jsonl" } }`,
    );
    const result = failed(await loadConfig({ configDir: dir, env: { ...env, LOGDIR: "logs" } }));
    expect(result.error.code).toBe("CONFIG_ENV_MISSING");
    expect(result.error.details).toEqual({
      file,
      key: "target.token",
      variable: "NOPE_TOKEN",
      environment: "the environment of the OpenCode process",
    });
    expect(result.auditPath).toBe("/tmp/logs/a.jsonl");
  });

  it("resolves relative and ~/ paths against the file's directory and HOME", async () => {
    writeConfig(
      `{ "target": { "url": "http://x.test/hooks" }, "audit": { "path": "./logs/audit.jsonl" }, "stateDir": "~/relay-state" }`,
    );
    const value = ok(await loadConfig({ configDir: dir, env }));
    expect(value.auditPath).toBe(path.join(dir, "logs", "audit.jsonl"));
    expect(value.stateDir).toBe(path.join(dir, "home", "relay-state"));
  });

  it("reads the file named by OPENCODE_CALLBACK_RELAY_CONFIG instead of the config dir", async () => {
    writeConfig(`{ "target": { "url": "http://dir.test/hooks" } }`);
    mkdirSync(path.join(dir, "elsewhere"));
    const file = writeConfig(
      `{ "target": { "url": "http://env.test/hooks" }, "stateDir": "st" }`,
      "elsewhere/relay.jsonc",
    );
    const value = ok(
      await loadConfig({ configDir: dir, env: { ...env, OPENCODE_CALLBACK_RELAY_CONFIG: file } }),
    );
    expect(value.file).toBe(file);
    expect(value.config.target.url).toBe("http://env.test/hooks");
    expect(value.stateDir).toBe(path.join(dir, "elsewhere", "st"));
  });

  it("reports CONFIG_NOT_FOUND when OPENCODE_CALLBACK_RELAY_CONFIG names a missing file, even with options", async () => {
    writeConfig(minimal);
    const missing = path.join(dir, "missing.jsonc");
    const result = failed(
      await loadConfig({
        configDir: dir,
        env: { ...env, OPENCODE_CALLBACK_RELAY_CONFIG: missing },
        options: { target: { url: "http://x.test/hooks" } },
      }),
    );
    expect(result.error.code).toBe("CONFIG_NOT_FOUND");
    expect(result.file).toBe(missing);
  });

  it("reports CONFIG_UNREADABLE when the path is a directory", async () => {
    mkdirSync(path.join(dir, "callback-relay.jsonc"));
    expect(failed(await loadConfig({ configDir: dir, env })).error.code).toBe("CONFIG_UNREADABLE");
  });

  it("reports CONFIG_UNREADABLE when the file cannot be read", async () => {
    if (process.getuid?.() === 0) return; // root reads anything
    const file = writeConfig(minimal);
    chmodSync(file, 0o000);
    expect(failed(await loadConfig({ configDir: dir, env })).error.code).toBe("CONFIG_UNREADABLE");
  });

  it("does not let a __proto__ key smuggle configuration in", async () => {
    writeConfig(`{ "__proto__": { "target": { "url": "http://evil.test/hooks" } } }`);
    const result = failed(await loadConfig({ configDir: dir, env }));
    expect(result.error.code).toBe("CONFIG_INVALID");
  });

  it("uses the default state and audit paths under HOME when XDG variables are unset", async () => {
    writeConfig(minimal);
    const bare = { HOME: path.join(dir, "home") };
    const value = ok(await loadConfig({ configDir: dir, env: bare }));
    expect(value.auditPath).toBe(defaultAuditPath(bare));
    expect(value.stateDir).toBe(defaultStateDir(bare));
    expect(value.stateDir).toBe(path.join(dir, "home", ".local", "state", "opencode-callback-relay"));
  });

  it("reads {file:…} references relative to the file's folder after {env:…}, and redacts what they held", async () => {
    mkdirSync(path.join(dir, "secrets"));
    writeFileSync(path.join(dir, "secrets", "hooks-token"), "file-token-0123\n");
    writeConfig(
      `{ "target": { "url": "http://x.test/hooks", "token": "{file:{env:SECRETS}/hooks-token}" } }`,
    );
    const value = ok(await loadConfig({ configDir: dir, env: { ...env, SECRETS: "secrets" } }));
    expect(value.config.target.token).toBe("file-token-0123");
    expect(value.secrets).toContain("file-token-0123");
  });

  it("reports CONFIG_FILE_MISSING for a {file:…} reference to a missing file", async () => {
    const file = writeConfig(
      `{ "target": { "url": "http://x.test/hooks", "token": "{file:~/no-such-token}" } }`,
    );
    const result = failed(await loadConfig({ configDir: dir, env }));
    expect(result.error.code).toBe("CONFIG_FILE_MISSING");
    expect(result.error.details).toMatchObject({
      file,
      key: "target.token",
      path: path.join(dir, "home", "no-such-token"),
    });
  });

  it("names the environment the caller says it read", async () => {
    writeConfig(`{ "target": { "url": "http://x.test/hooks", "token": "{env:NOPE_TOKEN}" } }`);
    const result = failed(await loadConfig({ configDir: dir, env, environment: "this shell" }));
    expect(result.error.details).toMatchObject({ variable: "NOPE_TOKEN", environment: "this shell" });
  });
});
