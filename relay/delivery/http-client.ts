import type { Agent as UndiciAgent } from "undici";
import AgentImpl from "undici/lib/dispatcher/agent.js";

/**
 * undici's keep-alive Agent, without the rest of undici.
 *
 * `import { Agent } from "undici"` bundles undici's whole index (fetch, WebSocket, EventSource,
 * cache stores, mocks: ~530 KB minified) into a plugin that uses one dispatcher. Requests go
 * through its `dispatch` with the relay's own handler (exchange.ts), so not even undici's
 * `request` API (a Readable body per answer) is loaded. The type is undici's own.
 */
export const Agent: typeof UndiciAgent = AgentImpl;
