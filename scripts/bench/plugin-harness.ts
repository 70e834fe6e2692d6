import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Hooks, PluginInput } from "@opencode-ai/plugin";
import { createOpencodeClient } from "@opencode-ai/sdk";
import { createHooks } from "../../plugin/create-hooks.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../../test/helpers/recording-receiver.ts";
import { recordedSessionId } from "./bench-stream.ts";

/** The hooks token the harness configures (the receiver does not check it). */
export const BENCH_TOKEN = "bench-token-0123456789";

export type EventHook = (input: { event: { type: string; properties?: unknown } }) => Promise<void>;

/**
 * The real plugin (plugin/create-hooks.ts, as OpenCode would start it) in this process, with a
 * PluginInput whose v1 SDK client points at a local stand-in for the two endpoints the plugin
 * reads (`GET /session/:id`, `GET /session/:id/message`), and a recording receiver as target.
 */
export interface PluginHarness {
  hook: EventHook;
  /** The plugin's `chat.message` hook (a no-op when the plugin registers none). */
  prompt: (input: { sessionID: string }) => Promise<void>;
  receiver: RecordingReceiver;
  /** Titles the stand-in answers `GET /session/:id` with. */
  titles: Map<string, string>;
  dir: string;
  stateDir: string;
  auditPath: string;
  /** Requests the stand-in answered. */
  standInRequests(): number;
  close(): Promise<void>;
}

export async function startPluginHarness(options: {
  messages: Record<string, unknown[]>;
  /** Where the outbox lives. @default a temp dir */
  stateDir?: string;
  delivery?: Record<string, unknown>;
  /** Send callbacks here instead of the harness's recording receiver (an OpenClaw hooks base). */
  targetUrl?: string;
  /** Journal runs at first sight (off: the baseline of the journal's A/B). @default true */
  journal?: boolean;
}): Promise<PluginHarness> {
  const dir = await mkdtemp(join(tmpdir(), "ocr-bench-plugin-"));
  const titles = new Map<string, string>();
  let served = 0;
  const standIn: Server = createServer((req, res) => {
    served++;
    const match = /^\/session\/([^/?]+)(\/message)?(?:\?|$)/.exec(req.url ?? "");
    const id = match?.[1] ? decodeURIComponent(match[1]) : "";
    const body = match?.[2]
      ? options.messages[recordedSessionId(id)]
      : titles.has(id)
        ? { id, title: titles.get(id) }
        : undefined;
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify(body ?? { name: "NotFoundError", data: { message: `no ${id}` } }));
  });
  await new Promise<void>((resolve) => standIn.listen(0, "127.0.0.1", resolve));
  const standInUrl = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
  const receiver = await startRecordingReceiver();
  const stateDir = options.stateDir ?? join(dir, "state");
  const auditPath = join(dir, "audit.jsonl");
  const configDir = join(dir, "config");
  await mkdir(join(configDir, "plugins"), { recursive: true });
  const input = {
    client: createOpencodeClient({ baseUrl: standInUrl }),
    project: { id: "global", worktree: "/tmp/e2e/project", vcs: "git", time: { created: 0 } },
    directory: "/tmp/e2e/project",
    worktree: "/tmp/e2e/project",
    serverUrl: new URL(`${standInUrl}/`),
    experimental_workspace: { register() {} },
    $: undefined,
  } as unknown as PluginInput;
  const hooks: Hooks = await createHooks(
    input,
    {
      target: {
        kind: "openclaw-agent",
        url: options.targetUrl ?? `${receiver.url}/hooks`,
        token: BENCH_TOKEN,
      },
      callbackSessionPrefixes: ["agent:main:"],
      stateDir,
      audit: { path: auditPath },
      ...(options.delivery ? { delivery: options.delivery } : {}),
    },
    pathToFileURL(join(configDir, "plugins", "opencode-callback-relay.js")).href,
    { journal: options.journal ?? true },
  );
  if (!hooks.event) throw new Error("the plugin returned no event hook (configuration refused?)");
  return {
    hook: hooks.event as EventHook,
    prompt: async (input) => {
      await (hooks["chat.message"] as ((input: { sessionID: string }) => Promise<void>) | undefined)?.(input);
    },
    receiver,
    titles,
    dir,
    stateDir,
    auditPath,
    standInRequests: () => served,
    async close() {
      await receiver.close();
      standIn.closeAllConnections();
      await new Promise<void>((resolve) => standIn.close(() => resolve()));
      // Journal writes started by the last events may still be landing: retry a folder that refills.
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
