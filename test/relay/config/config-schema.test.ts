import { describe, expect, it } from "vitest";
import { configSchema, DEFAULT_TIMEOUT_MS } from "../../../relay/config/config-schema.ts";

/** OpenClaw holds a request to a busy caller session this long before its 503 (facts/openclaw-hooks.md). */
const OPENCLAW_ADMISSION_WAIT_MS = 15_000;

const parse = (target: Record<string, unknown>, delivery: Record<string, unknown> = {}) =>
  configSchema.parse({ target: { url: "http://127.0.0.1:1/hooks", ...target }, delivery });

describe("configSchema: delivery.timeoutMs", () => {
  it("defaults above the gateway's 15 s admission wait for both OpenClaw kinds", () => {
    for (const kind of ["openclaw-agent", "openclaw-wake"] as const) {
      const timeout = parse({ kind }).delivery.timeoutMs;
      expect(timeout).toBe(DEFAULT_TIMEOUT_MS[kind]);
      expect(timeout).toBeGreaterThan(OPENCLAW_ADMISSION_WAIT_MS);
    }
    expect(parse({}).delivery.timeoutMs).toBeGreaterThan(OPENCLAW_ADMISSION_WAIT_MS); // the default kind
  });

  it("keeps a webhook's default at 10 s, and a configured value wins for every kind", () => {
    expect(parse({ kind: "webhook", secret: "whsec_x" }).delivery.timeoutMs).toBe(10_000);
    expect(parse({ kind: "openclaw-agent" }, { timeoutMs: 3_000 }).delivery.timeoutMs).toBe(3_000);
    expect(parse({ kind: "webhook", secret: "whsec_x" }, { timeoutMs: 30_000 }).delivery.timeoutMs).toBe(
      30_000,
    );
  });
});
