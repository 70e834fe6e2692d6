import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake OpenAI-compatible chat model on loopback, for the end-to-end suite, the demo and the
 * benchmarks: OpenCode talks to it through `@ai-sdk/openai-compatible` exactly as to a real
 * provider, so every turn is real OpenCode work without a network or a real model.
 *
 * What it answers is programmable per request, two ways:
 * - a directive in the newest user message, `[[fake:<name> key=value …]]` (see {@link parseDirective}),
 *   so parallel sessions of one server can each get their own behaviour;
 * - `respondWith(fn)`, which wins over directives while set.
 * A request whose newest message is a tool result (the turn resuming after a tool call) gets a
 * plain answer, so a `task` directive spawns one subagent and then finishes.
 */

/** One scripted answer. */
export type ModelReply =
  /** A streamed text answer of `chunks` deltas, `chunkDelayMs` apart (0: as fast as possible). */
  | { kind: "text"; text?: string; chunks?: number; chunkDelayMs?: number }
  /** A `task` tool call: OpenCode spawns a child (subagent) session that gets its own request. */
  | { kind: "task"; description?: string; prompt?: string; subagentType?: string }
  /** A `write` tool call: OpenCode writes `path` (relative to the project) and records a patch. */
  | { kind: "write"; path: string; content?: string }
  /** An HTTP error status with an OpenAI-style error body (401 is final; 429/5xx are retried by OpenCode). */
  | { kind: "error"; status: number; message?: string }
  /**
   * Start streaming and then never finish until the client goes away (for aborts) or the test
   * calls `release()` (a turn kept running exactly as long as a test needs).
   */
  | { kind: "hang"; chunks?: number };

/** One request as the fake model saw it. */
export interface ModelRequest {
  body: Record<string, unknown>;
  /** Text of the newest user message ("" when the newest message is a tool result). */
  lastUserText: string;
  /** True when the newest message is a tool result (the turn resuming after a tool call). */
  afterToolResult: boolean;
  /** Names of the tools OpenCode offered. */
  tools: string[];
  receivedAt: number;
}

export type ModelResponder = (request: ModelRequest, index: number) => ModelReply | undefined;

export interface FakeModel {
  /** `http://127.0.0.1:<port>/v1`: the provider's `baseURL`. */
  baseURL: string;
  port: number;
  requests: ModelRequest[];
  /** Override the answers (directives are ignored while set); `undefined` restores directives. */
  respondWith(responder: ModelResponder | undefined): void;
  /** Finish every `hang` stream sent so far as a normal answer (`stop`); returns how many. */
  release(): number;
  close(): Promise<void>;
}

/** The answer when nothing else is asked for. */
export const DEFAULT_REPLY: ModelReply = { kind: "text", text: "Done.", chunks: 1 };

/**
 * Read a `[[fake:<kind> key=value …]]` directive. Kinds: `text` (keys `chunks`, `delay`, `text`),
 * `task` (`description`, `prompt`, `type`), `write` (`path`, `content`), `error` (`status`), `hang`. Numbers are integers;
 * `text` values use `_` for spaces.
 */
export function parseDirective(text: string): ModelReply | undefined {
  const match = /\[\[fake:(\w+)((?:\s+\w+=[^\s\]]*)*)\s*\]\]/.exec(text);
  if (!match) return undefined;
  const args = new Map<string, string>();
  for (const token of (match[2] ?? "").trim().split(/\s+/)) {
    const eq = token.indexOf("=");
    if (eq > 0) args.set(token.slice(0, eq), token.slice(eq + 1).replaceAll("_", " "));
  }
  const int = (key: string) => {
    const value = args.get(key);
    return value === undefined ? undefined : Number.parseInt(value, 10);
  };
  // exactOptionalPropertyTypes: absent keys must be absent, not `undefined`.
  const defined = (value: Record<string, unknown>): ModelReply =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as ModelReply;
  switch (match[1]) {
    case "text":
      return defined({
        kind: "text",
        text: args.get("text"),
        chunks: int("chunks"),
        chunkDelayMs: int("delay"),
      });
    case "task":
      return defined({
        kind: "task",
        description: args.get("description"),
        prompt: args.get("prompt"),
        subagentType: args.get("type"),
      });
    case "write":
      return defined({
        kind: "write",
        path: args.get("path") ?? "fake-output.txt",
        content: args.get("content"),
      });
    case "error":
      return { kind: "error", status: int("status") ?? 500 };
    case "hang":
      return defined({ kind: "hang", chunks: int("chunks") });
    default:
      return undefined;
  }
}

/** Start the fake model on 127.0.0.1, port 0 by default. Close it when done. */
export async function startFakeModel(
  options: {
    port?: number;
    /**
     * Keep every request in `requests` (tests read them). A bench growing a long session turns it
     * off: each request carries the whole history, and holding 200 of a 20 MB session's would grow
     * the bench's own process to GBs, whose garbage collection then competes with what it measures.
     * @default true
     */
    keepRequests?: boolean;
  } = {},
): Promise<FakeModel> {
  const requests: ModelRequest[] = [];
  let answered = 0;
  let override: ModelResponder | undefined;
  const open = new Set<ServerResponse>();
  /** Ends of the `hang` streams that have sent their chunks and wait for release(). */
  const hanging = new Set<() => void>();

  const server: Server = createServer((req, res) => {
    readBody(req).then(
      (raw) => handle(raw, res),
      () => res.destroy(),
    );
  });

  function handle(raw: string, res: ServerResponse): void {
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      // Not JSON: answered as a plain request below.
    }
    const request = describe(body);
    const index = answered++;
    if (options.keepRequests !== false) requests.push(request);
    const reply =
      override?.(request, index) ??
      (request.afterToolResult ? undefined : parseDirective(request.lastUserText)) ??
      DEFAULT_REPLY;
    open.add(res);
    res.on("close", () => open.delete(res));
    answer(reply, body.stream === true, res, index, hanging);
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    respondWith(responder) {
      override = responder;
    },
    release() {
      const ends = [...hanging];
      hanging.clear();
      for (const end of ends) end();
      return ends.length;
    },
    close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function describe(body: Record<string, unknown>): ModelRequest {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<Record<string, unknown>>) : [];
  const last = messages.at(-1);
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  const tools = Array.isArray(body.tools)
    ? (body.tools as Array<{ function?: { name?: string } }>).map((t) => t.function?.name ?? "")
    : [];
  return {
    body,
    lastUserText: lastUser ? contentText(lastUser.content) : "",
    afterToolResult: last?.role === "tool",
    tools,
    receivedAt: Date.now(),
  };
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part: { type?: string; text?: string }) => (part.type === "text" ? (part.text ?? "") : ""))
      .join("\n");
  }
  return "";
}

const USAGE = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };

function answer(
  reply: ModelReply,
  stream: boolean,
  res: ServerResponse,
  index: number,
  hanging: Set<() => void>,
): void {
  if (reply.kind === "error") {
    res.writeHead(reply.status, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        error: {
          message: reply.message ?? `fake model error ${reply.status}`,
          type: "fake_error",
          code: null,
        },
      }),
    );
    return;
  }
  const id = `chatcmpl-fake-${index}`;
  const base = {
    id,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: "fake-model",
  };

  if (!stream) {
    // Non-streamed requests (title generation and the like) get a short plain answer.
    const text = reply.kind === "text" ? (reply.text ?? "Done.") : "Done.";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        ...base,
        object: "chat.completion",
        choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
        usage: USAGE,
      }),
    );
    return;
  }

  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  const send = (delta: Record<string, unknown>, finish: string | null = null, usage?: object) =>
    res.write(
      `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`,
    );
  const end = (finish: string) => {
    send({}, finish, USAGE);
    res.end("data: [DONE]\n\n");
  };

  if (reply.kind === "task" || reply.kind === "write") {
    const [name, args] =
      reply.kind === "task"
        ? [
            "task",
            {
              description: reply.description ?? "fake subtask",
              prompt: reply.prompt ?? "Say done.",
              subagent_type: reply.subagentType ?? "general",
            },
          ]
        : ["write", { filePath: reply.path, content: reply.content ?? "written by the fake model\n" }];
    send({
      role: "assistant",
      tool_calls: [
        {
          index: 0,
          id: `call_fake_${index}`,
          type: "function",
          function: { name, arguments: JSON.stringify(args) },
        },
      ],
    });
    end("tool_calls");
    return;
  }

  const chunks = Math.max(1, reply.chunks ?? (reply.kind === "hang" ? 5 : 1));
  const delay = reply.kind === "hang" ? 50 : (reply.chunkDelayMs ?? 0);
  const text = reply.kind === "text" ? (reply.text ?? "Done.") : "Working";
  send({ role: "assistant", content: "" });
  let sent = 0;
  // A `hang` stream finishes only once released (from the start, so a release during its first
  // chunks is not lost); a client that aborts or goes away takes it off the list.
  let released = reply.kind !== "hang";
  if (!released) {
    const release = () => {
      released = true;
      if (sent >= chunks) next();
    };
    hanging.add(release);
    res.on("close", () => hanging.delete(release));
  }
  const next = () => {
    if (res.destroyed || res.writableEnded) return;
    if (sent < chunks) {
      // One chunk is the whole text; more chunks repeat a numbered piece of it.
      send({ content: chunks === 1 ? text : `${text} ${sent + 1}. ` });
      sent += 1;
      if (delay > 0) setTimeout(next, delay);
      else setImmediate(next);
      return;
    }
    if (released) end("stop");
  };
  next();
}
