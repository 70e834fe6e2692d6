import type { Dispatcher, Agent as UndiciAgent } from "undici";
import api from "undici/lib/api/index.js";
import AgentImpl from "undici/lib/dispatcher/agent.js";
import DispatcherImpl from "undici/lib/dispatcher/dispatcher.js";

/**
 * undici's keep-alive Agent and `request`, without the rest of undici.
 *
 * `import { Agent, request } from "undici"` bundles undici's whole index (fetch, WebSocket,
 * EventSource, cache stores, mocks: ~530 KB minified) into a plugin that uses one dispatcher and
 * one request function. These are the same modules undici's index wires together
 * (`Object.assign(Dispatcher.prototype, api)`), loaded directly; the types are undici's own.
 */
Object.assign(DispatcherImpl.prototype, api);

/** undici's Agent (a pool per origin, keep-alive). */
export const Agent: typeof UndiciAgent = AgentImpl;

/** undici's top-level `request(url, { dispatcher, … })`, limited to what the relay passes. */
export function request(
  url: string,
  options: { dispatcher: Dispatcher } & Omit<Dispatcher.RequestOptions, "origin" | "path">,
): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  const target = new URL(url);
  return dispatcher.request({ ...rest, origin: target.origin, path: `${target.pathname}${target.search}` });
}
