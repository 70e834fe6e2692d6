import { connect } from "node:net";
import type { RelayConfig } from "../../../relay/index.ts";
import { check, type DoctorCheck } from "./doctor-check.ts";

type Target = RelayConfig["target"];

/** `<hooks base>/<leaf>`, as the relay builds it. */
export function hooksEndpoint(base: string, leaf: "agent" | "wake"): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${leaf}`;
  return url.toString();
}

/**
 * Reachable, and for OpenClaw the token accepted, with ONE request that starts nothing: an empty
 * body to the configured endpoint. The gateway checks auth first (401 plain text), then the body
 * (400 `message required` / `text required`), so a 400 naming the missing field means the token
 * passed. One request only: 20 failed auths a minute lock this client out for 60 s.
 * A webhook receiver is only connected to: anything it would accept must be signed, so
 * `--send-test` is the way to check it.
 */
export async function probeTarget(target: Target, timeoutMs: number): Promise<DoctorCheck[]> {
  if (target.kind === "webhook") return [await probeConnect(target.url, timeoutMs)];
  const leaf = target.kind === "openclaw-agent" ? "agent" : "wake";
  const url = hooksEndpoint(target.url, leaf);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  let status: number;
  let body: string;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: "{}",
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    body = (await response.text()).slice(0, 2000);
  } catch (error) {
    return [unreachable(url, error)];
  }
  // Never echo the token back, should a proxy's error page quote the header.
  const excerpt = (target.token === undefined ? body : body.split(target.token).join("[redacted]"))
    .replace(/\s+/g, " ")
    .slice(0, 200);
  const error = jsonError(body);
  if (status === 401) {
    return [
      check("target.reachable", "ok", `${url} answers`),
      check("target.auth", "fail", "the gateway refused the token (401)", {
        code: "DELIVERY_UNAUTHORIZED",
        fix: "target.token must equal the gateway's hooks.token (a dedicated hooks token, not the gateway's auth token)",
      }),
    ];
  }
  if (status === 400 && (error === "message required" || error === "text required")) {
    return [
      check(
        "target.auth",
        "ok",
        `${url} is reachable and accepted the token (400 ${error} to an empty body)`,
      ),
    ];
  }
  if (status === 429) {
    return [
      check("target.auth", "fail", "the gateway is refusing this client after too many bad tokens (429)", {
        code: "DELIVERY_HTTP_STATUS",
        fix: "fix target.token, wait the Retry-After (60 s), then run doctor again",
      }),
    ];
  }
  if (status === 404 || status === 405) {
    return [
      check("target.reachable", "fail", `${url}: ${status}: no hooks endpoint there`, {
        code: "DELIVERY_HTTP_STATUS",
        fix: "set hooks.enabled: true on the gateway, and make target.url end with its hooks.path (default /hooks)",
      }),
    ];
  }
  return [
    check(
      "target.auth",
      "warn",
      `${url} answered ${status} to an empty body, not as an OpenClaw gateway does: ${excerpt}`,
      {
        fix: "check that target.url is the gateway's hooks base (http://<host>:<port>/hooks), then run doctor --send-test",
      },
    ),
  ];
}

function jsonError(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    const error = (parsed as { error?: unknown } | null)?.error;
    return typeof error === "string" ? error : undefined;
  } catch {
    return undefined;
  }
}

function unreachable(url: string, error: unknown): DoctorCheck {
  const cause = (error as { cause?: { code?: string } } | null)?.cause?.code;
  const name = (error as { name?: string } | null)?.name;
  const what = cause ?? (name === "TimeoutError" ? "no answer in time" : String(error));
  return check("target.reachable", "fail", `${url} cannot be reached (${what})`, {
    code: name === "TimeoutError" ? "DELIVERY_TIMEOUT" : "DELIVERY_NETWORK",
    fix: "start the receiver (the gateway: `openclaw gateway run`), or correct target.url",
  });
}

async function probeConnect(url: string, timeoutMs: number): Promise<DoctorCheck> {
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const result = await new Promise<true | Error>((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(Object.assign(new Error("timeout"), { name: "TimeoutError" }));
    });
    socket.once("error", (error) => resolve(Object.assign(new Error(error.message), { cause: error })));
  });
  if (result !== true) return unreachable(url, result);
  return check(
    "target.reachable",
    "warn",
    `${parsed.host} accepts connections; whether the receiver accepts signed callbacks is not checked`,
    {
      fix: "run `opencode-callback-relay doctor --send-test` to send one signed test callback",
    },
  );
}
