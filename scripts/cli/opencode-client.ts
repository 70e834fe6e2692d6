import { RelayError } from "../../relay/index.ts";

/** The few `opencode serve` endpoints `dispatch` uses, for one project directory. */
export interface OpencodeClient {
  /** `GET /config`: the configuration OpenCode merged for the directory (`plugin` included). */
  config(): Promise<{ plugin?: unknown }>;
  /** `POST /session {title}`. */
  createSession(title: string): Promise<{ id: string; title: string }>;
  /** `POST /session/:id/prompt_async`: returns once the prompt is queued, not when the run ends. */
  promptAsync(sessionId: string, text: string, agent: string | undefined): Promise<void>;
  /** `GET /session/:id/message`. */
  messages(sessionId: string): Promise<Array<{ info: Record<string, unknown> }>>;
  /** `GET /event`: the server-sent event stream of the directory's instance. */
  events(signal: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

/**
 * A client for `server` (`http://127.0.0.1:4096`) scoped to `directory` with OpenCode's
 * `?directory=` parameter (one serve can hold several projects; the plugin instance, its relay and
 * its configuration belong to one directory). Every request has a timeout; every failure is
 * RelayError DISPATCH_SERVER with the status.
 *
 * @param timeoutMs per request, except the event stream. @default 30000
 */
export function opencodeClient(server: string, directory: string, timeoutMs = 30_000): OpencodeClient {
  const base = server.replace(/\/+$/, "");
  const url = (path: string) => `${base}${path}?directory=${encodeURIComponent(directory)}`;

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(url(path), {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(body === undefined
          ? {}
          : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new RelayError("DISPATCH_SERVER", `${method} ${base}${path}: ${describe(error)}`, {
        cause: error,
        details: { server: base, path },
      });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new RelayError(
        "DISPATCH_SERVER",
        `${method} ${base}${path} answered ${response.status}: ${text.slice(0, 300)}`,
        { details: { server: base, path, status: response.status } },
      );
    }
    try {
      return (text === "" ? undefined : JSON.parse(text)) as T;
    } catch (error) {
      throw new RelayError(
        "DISPATCH_SERVER",
        `${method} ${base}${path} did not answer JSON: is --server an opencode serve?`,
        {
          cause: error,
          details: { server: base, path, status: response.status },
        },
      );
    }
  }

  return {
    config: () => call("GET", "/config"),
    createSession: (title) => call("POST", "/session", { title }),
    async promptAsync(sessionId, text, agent) {
      const body = { parts: [{ type: "text", text }], ...(agent === undefined ? {} : { agent }) };
      await call("POST", `/session/${encodeURIComponent(sessionId)}/prompt_async`, body);
    },
    messages: (sessionId) => call("GET", `/session/${encodeURIComponent(sessionId)}/message`),
    async events(signal) {
      let response: Response;
      try {
        response = await fetch(url("/event"), { signal, headers: { accept: "text/event-stream" } });
      } catch (error) {
        throw new RelayError("DISPATCH_SERVER", `GET ${base}/event: ${describe(error)}`, {
          cause: error,
          details: { server: base, path: "/event" },
        });
      }
      if (!response.ok || response.body === null) {
        throw new RelayError("DISPATCH_SERVER", `GET ${base}/event answered ${response.status}`, {
          details: { server: base, path: "/event", status: response.status },
        });
      }
      return response.body;
    },
  };
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
