import type { ReceivedRequest, Reply, Responder } from "./recording-receiver.ts";

/** The `hooks` block of a gateway's openclaw.json that the responder enforces. */
export interface GatewayHooks {
  enabled?: boolean;
  token: string;
  path?: string;
  allowRequestSessionKey?: boolean;
  allowedSessionKeyPrefixes?: string[];
}

const json = (status: number, body: unknown): Reply => ({
  status,
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

/**
 * Answers as OpenClaw 2026.9.6's `/hooks/agent` and `/hooks/wake` do, in the order probed on a
 * real gateway (shared/facts/openclaw-hooks.md): `?token=` 400 plain text, auth 401 plain text
 * (20 failures a minute → 429 Retry-After 60), `message`/`text required` 400 JSON, then the
 * session-key policy (`sessionKey is disabled…`, `sessionKey must start with…`) 400 JSON, then
 * 200 `{"ok":true,"runId"}`. `hooks` is read at every request, so a test can change it.
 */
export function openclawGatewayResponder(hooks: GatewayHooks, now: () => number = Date.now): Responder {
  const failures: number[] = [];
  return (request: ReceivedRequest): Reply => {
    const base = (hooks.path ?? "/hooks").replace(/\/+$/, "");
    const url = new URL(request.path, "http://gateway");
    const leaf = url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length + 1) : undefined;
    if (hooks.enabled === false || (leaf !== "agent" && leaf !== "wake"))
      return { status: 404, body: "Not Found", headers: { "content-type": "text/plain" } };
    if (request.method !== "POST") return { status: 405, body: "Method Not Allowed" };
    if (url.searchParams.has("token"))
      return { status: 400, body: "Bad Request", headers: { "content-type": "text/plain" } };
    const recent = failures.filter((t) => now() - t < 60_000);
    if (recent.length >= 20)
      return { status: 429, body: "Too Many Requests", headers: { "retry-after": "60" } };
    const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? "")?.[1];
    const given = bearer ?? request.headers["x-openclaw-token"];
    if (given !== hooks.token) {
      failures.push(now());
      return { status: 401, body: "Unauthorized", headers: { "content-type": "text/plain" } };
    }
    const body = (request.json ?? {}) as Record<string, unknown>;
    const field = leaf === "agent" ? "message" : "text";
    if (typeof body[field] !== "string" || body[field] === "")
      return json(400, { ok: false, error: `${field} required` });
    const sessionKey = body.sessionKey;
    if (typeof sessionKey === "string") {
      if (hooks.allowRequestSessionKey !== true) {
        return json(400, {
          ok: false,
          error:
            "sessionKey is disabled for externally supplied hook payload values; set hooks.allowRequestSessionKey=true to enable",
        });
      }
      const prefixes = hooks.allowedSessionKeyPrefixes ?? [];
      if (prefixes.length > 0 && !prefixes.some((p) => sessionKey.toLowerCase().startsWith(p.toLowerCase())))
        return json(400, { ok: false, error: `sessionKey must start with one of: ${prefixes.join(", ")}` });
    }
    return leaf === "agent"
      ? json(200, { ok: true, runId: `run-${request.receivedAt}` })
      : json(200, { ok: true, mode: "now", eventOutcome: "queued" });
  };
}
