import { afterEach, describe, expect, it } from "vitest";
import { createRelay } from "../../../relay/core/create-relay.ts";
import { ERROR_CODES } from "../../../relay/errors/errors.ts";
import { NOTICE_PREFIX } from "../../../relay/errors/print-notice.ts";
import { waitFor } from "../../../scripts/dev/wait-for.ts";
import { INSTANCE, makeRun, type RelayFixture, relayFixture, TOKEN } from "../../helpers/relay-fixture.ts";

let fixture: RelayFixture | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

/** Run `runs` through a relay whose notices are captured; the lines printed. */
async function noticesOf(fx: RelayFixture, runs: ReturnType<typeof makeRun>[]): Promise<string[]> {
  const lines: string[] = [];
  const relay = createRelay({
    config: fx.config,
    instance: INSTANCE,
    audit: fx.audit,
    stateDir: fx.stateDir,
    notify: (line) => lines.push(line),
  });
  for (const run of runs) relay.submit(run);
  // drain() does not wait for a scheduled retry: wait for the final failure's notice itself.
  await waitFor("a final failure's notice", () => (lines.length > 0 ? true : undefined));
  await relay.drain();
  await relay.close();
  return lines;
}

describe("final failures are noticed on stderr", () => {
  it("prints one line with the code and the fix for a final 401, and nothing for a delivered run", async () => {
    fixture = await relayFixture({
      responder: (req) =>
        req.body.includes("nf-ok") ? { status: 200 } : { status: 401, body: "Unauthorized" },
    });
    const lines = await noticesOf(fixture, [makeRun("nf-401"), makeRun("nf-ok")]);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line?.startsWith(`${NOTICE_PREFIX} `)).toBe(true);
    expect(line?.endsWith("\n")).toBe(true);
    expect(line?.split("\n")).toHaveLength(2);
    expect(line).toContain("DELIVERY_UNAUTHORIZED");
    expect(line).toContain('"nf-401"');
    expect(line).toContain("ses_nf-401");
    expect(line).toContain("target.token");
    expect(line).toContain("audit redeliver nf-401");
    expect(line).not.toContain(TOKEN);
  });

  it("names the exhausted retries and the last attempt's code, whose hint is the fix", async () => {
    fixture = await relayFixture({ responder: () => ({ status: 503 }), delivery: { maxAttempts: 2 } });
    const lines = await noticesOf(fixture, [makeRun("nf-503")]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("DELIVERY_RETRIES_EXHAUSTED");
    expect(lines[0]).toContain("last DELIVERY_HTTP_STATUS");
    expect(lines[0]).toContain("after 2 attempt(s)");
    expect(lines[0]).toContain(ERROR_CODES.DELIVERY_HTTP_STATUS.hint);
    expect(lines[0]).toContain("audit redeliver nf-503");
  });
});
