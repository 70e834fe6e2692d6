import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type E2EWorld, forSession, relayConfigFor, startWorld } from "./e2e-context.ts";

/**
 * A proxy variable in OpenCode's environment. Bun's `fetch` follows HTTP_PROXY on its own; the
 * relay has always connected to its target itself (undici's Agent follows no proxy variable), and
 * must go on doing so: a callback and its token never go to a proxy nobody configured for it.
 * NO_PROXY=127.0.0.1 keeps OpenCode's own calls to the fake model direct; the target is named
 * `localhost`, which the proxy variables do cover.
 */

let world: E2EWorld;
let proxy: Server;
const proxied: string[] = [];

beforeAll(async () => {
  proxy = createServer((request, response) => {
    proxied.push(`${request.method} ${request.url}`);
    response.writeHead(502).end("this proxy forwards nothing");
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  world = await startWorld({
    relayConfig: (receiverUrl) => relayConfigFor(receiverUrl.replace("127.0.0.1", "localhost")),
    env: { HTTP_PROXY: proxyUrl, http_proxy: proxyUrl, NO_PROXY: "127.0.0.1", no_proxy: "127.0.0.1" },
  });
});

afterAll(async () => {
  await world?.close();
  await new Promise<void>((resolve) => proxy?.close(() => resolve()));
});

it("delivers to the target itself, not through HTTP_PROXY", async () => {
  const session = await world.server.createSession(
    "Proxied runId=run-proxy callbackSession=agent:main:e2e-proxy",
  );
  await world.server.prompt(session.id, "hello");
  await world.waitForAudit((r) => r.sessionId === session.id && r.phase === "delivered");
  expect(forSession(world.audit(), session.id).map((r) => r.phase)).toEqual([
    "accepted",
    "attempt",
    "delivered",
  ]);
  expect(world.receiver.requests.map((r) => r.path)).toEqual(["/hooks/agent"]);
  expect(proxied).toEqual([]);
});
