import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Starts an isolated, real `opencode serve` for the end-to-end suite, the demo and the benchmarks:
 * HOME and every XDG dir in a temp folder, a `git init`ed project folder (so the project has a
 * real id), an `opencode.json` pointing at a fake model, and optionally the plugin bundle installed
 * into `<configDir>/plugins/` with a `callback-relay.jsonc` beside it.
 *
 * Two traps from docs/facts are handled here: a request sent before the server prints
 * `opencode server listening on` can hang forever (so start() waits for that line and every
 * request has a timeout), and `--port 0` means "4096 first", not "any free port" (so the port
 * is asked of the OS).
 */

/**
 * The checkout this file belongs to: the nearest folder up from here holding the `opencode` binary
 * (this file also runs bundled, from `dist/`), else the working directory.
 */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "node_modules", ".bin", "opencode"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

const repoRoot = findRepoRoot();

/** The plugin bundle `node scripts/build.mjs` writes. */
export const DEFAULT_BUNDLE = join(repoRoot, "dist", "opencode-callback-relay.js");
/** The real binary from the `opencode-ai` dev dependency. */
export const DEFAULT_OPENCODE_BIN = join(repoRoot, "node_modules", ".bin", "opencode");
/** File name the plugin is installed under (OpenCode scans `plugins/*.js`). */
export const BUNDLE_FILE_NAME = "opencode-callback-relay.js";
/** File name of the relay configuration the plugin reads from its config dir. */
export const RELAY_CONFIG_FILE_NAME = "callback-relay.jsonc";

export interface StartOpencodeOptions {
  /** The fake model's `baseURL` (`http://127.0.0.1:<port>/v1`). */
  modelBaseURL: string;
  /** Bundle copied into `<configDir>/plugins/`. `null`: install no plugin. @default DEFAULT_BUNDLE */
  bundlePath?: string | null;
  /** Written to `<configDir>/callback-relay.jsonc` (an object is JSON-encoded). `null`/absent: no file. */
  relayConfig?: string | object | null;
  /** More files for `<configDir>/plugins/` (name → source), e.g. a probe plugin. */
  extraPlugins?: Record<string, string>;
  /** Extra `opencode.json` keys (merged over the generated ones). */
  opencodeConfig?: Record<string, unknown>;
  /** Extra environment for the server (e.g. the relay token). */
  env?: Record<string, string>;
  /**
   * Reuse an existing root made by an earlier start (same HOME, data, project): for restart and
   * crash tests. Files are rewritten; nothing is deleted. The caller then owns the root's removal.
   */
  root?: string;
  /**
   * Let OpenCode run its npm install of `@opencode-ai/plugin` in the config dir. OpenCode starts
   * one for every config dir and, when plugins are present, waits for it before loading them:
   * ~8–10 s against a registry on first start, and a hang or failure offline. By default the
   * harness marks the config dir as already installed (the bundle needs nothing from it).
   * @default false
   */
  installDependencies?: boolean;
  /** @default DEFAULT_OPENCODE_BIN */
  opencodeBin?: string;
  /** Give up waiting for "listening" after this long, ms. @default 30000 */
  startTimeoutMs?: number;
  /** Default timeout of each HTTP request, ms. @default 30000 */
  requestTimeoutMs?: number;
}

/** The subset of an OpenCode session the helpers return. */
export interface SessionInfo {
  id: string;
  title: string;
  parentID?: string;
  [key: string]: unknown;
}

export interface OpencodeServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  pid: number;
  /** Temp root holding every dir below. */
  root: string;
  home: string;
  /** `$XDG_CONFIG_HOME/opencode`: where `plugins/` and `callback-relay.jsonc` live. */
  configDir: string;
  /** `$XDG_DATA_HOME` (OpenCode's storage and the relay's default audit path live below it). */
  dataHome: string;
  /** `$XDG_STATE_HOME`. */
  stateHome: string;
  /** The git-initialised project the server runs in (its worktree). */
  projectDir: string;
  /** Milliseconds from spawn to the "listening" line. */
  startupMs: number;
  /** Everything the server printed so far (stdout and stderr interleaved). */
  output(): string;
  /** One JSON request with a timeout; throws on non-2xx with the status and body. */
  request<T = unknown>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T>;
  /** `POST /session` with an explicit title (an explicit title is never overwritten). */
  createSession(title: string): Promise<SessionInfo>;
  /** `POST /session/:id/message`: blocks until the turn ends. */
  prompt(sessionId: string, text: string, timeoutMs?: number): Promise<unknown>;
  /** `POST /session/:id/prompt_async`: returns at once. */
  promptAsync(sessionId: string, text: string): Promise<void>;
  /** `POST /session/:id/abort`. */
  abort(sessionId: string): Promise<void>;
  /** `PATCH /session/:id {title}`. */
  patchTitle(sessionId: string, title: string): Promise<SessionInfo>;
  getSession(sessionId: string): Promise<SessionInfo>;
  messages(sessionId: string): Promise<Array<{ info: Record<string, unknown>; parts: unknown[] }>>;
  /** SIGTERM, then SIGKILL after `graceMs`; removes the temp root unless it was passed in. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash); keeps the root so a new server can start on it. */
  kill9(): Promise<void>;
}

/** Start `opencode serve` and resolve once it listens. Always `stop()` it (by pid) in teardown. */
export async function startOpencodeServer(options: StartOpencodeOptions): Promise<OpencodeServer> {
  const ownsRoot = options.root === undefined;
  const root = options.root ?? (await mkdtemp(join(tmpdir(), "ocr-opencode-")));
  const dirs = {
    home: join(root, "home"),
    configHome: join(root, "config"),
    dataHome: join(root, "data"),
    stateHome: join(root, "state"),
    cacheHome: join(root, "cache"),
    projectDir: join(root, "project"),
  };
  const configDir = join(dirs.configHome, "opencode");
  try {
    await prepare(options, dirs, configDir);
  } catch (error) {
    if (ownsRoot) await rm(root, { recursive: true, force: true });
    throw error;
  }

  const env: Record<string, string> = {
    ...pickEnv(process.env),
    HOME: dirs.home,
    XDG_CONFIG_HOME: dirs.configHome,
    XDG_DATA_HOME: dirs.dataHome,
    XDG_STATE_HOME: dirs.stateHome,
    XDG_CACHE_HOME: dirs.cacheHome,
    // No network: no models.dev fetch, no self-update, no default plugin installs, no LSP downloads.
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_SHARE: "1",
    ...options.env,
  };

  let lastError: unknown;
  // The OS-chosen port is free when asked but could be taken before OpenCode binds it: retry.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    try {
      const started = await spawnServer(options, env, dirs.projectDir, port);
      return makeHandle(started, {
        root,
        ownsRoot,
        configDir,
        home: dirs.home,
        dataHome: dirs.dataHome,
        stateHome: dirs.stateHome,
        projectDir: dirs.projectDir,
        requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      });
    } catch (error) {
      lastError = error;
    }
  }
  if (ownsRoot) await rm(root, { recursive: true, force: true });
  throw lastError;
}

async function prepare(
  options: StartOpencodeOptions,
  dirs: Record<"home" | "configHome" | "dataHome" | "stateHome" | "cacheHome" | "projectDir", string>,
  configDir: string,
): Promise<void> {
  for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true });
  await mkdir(join(configDir, "plugins"), { recursive: true });
  if (!existsSync(join(dirs.projectDir, ".git"))) {
    const git = (...args: string[]) =>
      execFileSync("git", args, {
        cwd: dirs.projectDir,
        stdio: "ignore",
        env: { ...process.env, HOME: dirs.home, GIT_CONFIG_NOSYSTEM: "1" },
      });
    git("init", "-q");
    await writeFile(join(dirs.projectDir, "README.md"), "# e2e project\n");
    git("add", "README.md");
    // The first commit gives the project its id (OpenCode derives it from the root commit).
    git("-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-q", "-m", "init");
  }
  const opencodeJson = {
    $schema: "https://opencode.ai/config.json",
    model: "fake/fake-model",
    small_model: "fake/fake-model",
    autoupdate: false,
    share: "disabled",
    provider: {
      fake: {
        npm: "@ai-sdk/openai-compatible",
        options: { baseURL: options.modelBaseURL, apiKey: "x" },
        models: { "fake-model": { name: "Fake" } },
      },
    },
    ...options.opencodeConfig,
  };
  await writeFile(join(configDir, "opencode.json"), `${JSON.stringify(opencodeJson, null, 2)}\n`);
  if (!options.installDependencies) await markDependenciesInstalled(configDir);
  const bundle = options.bundlePath === undefined ? DEFAULT_BUNDLE : options.bundlePath;
  if (bundle !== null) {
    if (!existsSync(bundle)) throw new Error(`bundle ${bundle} is missing: run node scripts/build.mjs`);
    await copyFile(bundle, join(configDir, "plugins", BUNDLE_FILE_NAME));
  }
  for (const [name, source] of Object.entries(options.extraPlugins ?? {})) {
    await writeFile(join(configDir, "plugins", name), source);
  }
  const relayConfigPath = join(configDir, RELAY_CONFIG_FILE_NAME);
  if (options.relayConfig !== undefined && options.relayConfig !== null) {
    const text =
      typeof options.relayConfig === "string"
        ? options.relayConfig
        : `${JSON.stringify(options.relayConfig, null, 2)}\n`;
    await writeFile(relayConfigPath, text);
  } else if (options.relayConfig === null) {
    await rm(relayConfigPath, { force: true });
  }
}

/**
 * OpenCode's dependency step (Npm.install in 1.18.33) skips a dir that has `node_modules/` and a
 * `package-lock.json` whose root lists every dependency of `package.json` plus `@opencode-ai/plugin`.
 */
async function markDependenciesInstalled(configDir: string): Promise<void> {
  if (existsSync(join(configDir, "node_modules"))) return;
  await mkdir(join(configDir, "node_modules"), { recursive: true });
  const dependencies = { "@opencode-ai/plugin": "*" };
  await writeFile(join(configDir, "package.json"), `${JSON.stringify({ dependencies }, null, 2)}\n`);
  await writeFile(
    join(configDir, "package-lock.json"),
    `${JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies } } }, null, 2)}\n`,
  );
}

/** The parent environment without anything that would point OpenCode elsewhere. */
function pickEnv(source: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (key.startsWith("OPENCODE_") || key.startsWith("XDG_")) continue;
    out[key] = value;
  }
  return out;
}

/** A port the OS says is free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Started {
  child: ChildProcess;
  url: string;
  startupMs: number;
  output: string[];
}

function spawnServer(
  options: StartOpencodeOptions,
  env: Record<string, string>,
  cwd: string,
  port: number,
): Promise<Started> {
  const startedAt = performance.now();
  const bin = options.opencodeBin ?? DEFAULT_OPENCODE_BIN;
  // Its own process group, so stop() also ends whatever OpenCode spawned (LSPs, shells); started
  // through WITH_PARENT, so the group also ends when this process does, however it ends.
  const child = spawn(
    "/bin/sh",
    ["-c", WITH_PARENT, bin, "serve", "--hostname", "127.0.0.1", "--port", String(port)],
    { cwd, env, detached: true, stdio: ["pipe", "pipe", "pipe"] },
  );
  child.stdin?.on("error", () => {}); // the group is gone: nothing to tell it
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child, "SIGKILL");
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new Error(`opencode serve did not listen within the timeout:\n${output.join("")}`)),
      options.startTimeoutMs ?? 30_000,
    );
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString("utf8"));
      if (settled) return;
      const match = /opencode server listening on (http:\/\/[^\s]+)/.exec(output.join(""));
      if (match?.[1]) {
        settled = true;
        clearTimeout(timer);
        resolve({
          child,
          url: match[1].replace(/\/$/, ""),
          startupMs: performance.now() - startedAt,
          output,
        });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", fail);
    child.once("exit", (code, signal) =>
      fail(new Error(`opencode serve exited (${code ?? signal}) before listening:\n${output.join("")}`)),
    );
  });
}

/**
 * Run `"$0" "$@"` (the server), and end its whole process group when the process that started it
 * ends, however it ends: a crash, SIGKILL, an out-of-memory kill, a Ctrl-C that reaches no
 * handler. The group is its own (`detached`), so it gets no signal meant for the starter, and its
 * parent's death alone would leave `opencode serve` running. A watcher in the group reads the pipe
 * on the shell's stdin, which nothing writes; when the starter ends, its end of the pipe closes,
 * the read returns, and the watcher kills the group, itself included. The server gets the same pid
 * (`exec`), and neither the pipe nor a terminal as stdin.
 */
const WITH_PARENT = 'exec 3<&0; (read -r _ <&3; kill -9 0) & exec "$0" "$@" </dev/null 3<&-';

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function makeHandle(
  started: Started,
  context: {
    root: string;
    ownsRoot: boolean;
    configDir: string;
    home: string;
    dataHome: string;
    stateHome: string;
    projectDir: string;
    requestTimeoutMs: number;
  },
): OpencodeServer {
  const { child, url } = started;
  let stopped = false;

  async function request<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const init: RequestInit = {
      method,
      signal: AbortSignal.timeout(timeoutMs ?? context.requestTimeoutMs),
    };
    if (body !== undefined) {
      init.headers = { "content-type": "application/json" };
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`${url}${path}`, init);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text.slice(0, 500)}`);
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  const textParts = (text: string) => ({ parts: [{ type: "text", text }] });

  return {
    url,
    pid: child.pid ?? -1,
    root: context.root,
    home: context.home,
    configDir: context.configDir,
    dataHome: context.dataHome,
    stateHome: context.stateHome,
    projectDir: context.projectDir,
    startupMs: started.startupMs,
    output: () => started.output.join(""),
    request,
    createSession: (title) => request<SessionInfo>("POST", "/session", { title }),
    prompt: (id, text, timeoutMs) => request("POST", `/session/${id}/message`, textParts(text), timeoutMs),
    promptAsync: async (id, text) => {
      await request("POST", `/session/${id}/prompt_async`, textParts(text));
    },
    abort: async (id) => {
      await request("POST", `/session/${id}/abort`);
    },
    patchTitle: (id, title) => request<SessionInfo>("PATCH", `/session/${id}`, { title }),
    getSession: (id) => request<SessionInfo>("GET", `/session/${id}`),
    messages: (id) => request("GET", `/session/${id}/message`),
    async stop(graceMs = 3_000) {
      if (!stopped) {
        stopped = true;
        killGroup(child, "SIGTERM");
        if (!(await waitExit(child, graceMs))) {
          killGroup(child, "SIGKILL");
          await waitExit(child, 2_000);
        }
        // The server is gone: its watcher then ends whatever is left of the group (WITH_PARENT).
        child.stdin?.destroy();
      }
      if (context.ownsRoot) await rm(context.root, { recursive: true, force: true });
    },
    async kill9() {
      stopped = true;
      killGroup(child, "SIGKILL");
      await waitExit(child, 5_000);
      child.stdin?.destroy();
    },
  };
}
