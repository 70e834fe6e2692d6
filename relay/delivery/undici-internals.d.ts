// Deep imports used by relay/http-client.ts: undici publishes no types for them, so they are
// typed here with undici's public types (the objects are the same ones its index exports).
declare module "undici/lib/dispatcher/agent.js" {
  import type { Agent } from "undici";

  const AgentImpl: typeof Agent;
  export default AgentImpl;
}
