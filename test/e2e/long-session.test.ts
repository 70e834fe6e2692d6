import { createOpencodeClient } from "@opencode-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientReader } from "../../plugin/create-event-hook.ts";
import { readLastTurn } from "../../plugin/read-last-turn.ts";
import { buildRun, type SessionMessage } from "../../plugin/settle-run.ts";
import type { RoutingFields, RunReport } from "../../relay/callback/callback.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { type E2EWorld, relayConfigFor, startWorld } from "./e2e-context.ts";

/**
 * A tagged session of many turns, a new runId per turn, in a real `opencode serve`: each turn's
 * callback reports that turn only (answer, tokens, files), and the plugin's reads of the session
 * stay bounded however long it grows (issue 12, "settle from the last turn only").
 */

const TURNS = 30;
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SESSION_KEY = "agent:main:e2e-long";

let world: E2EWorld;
let sessionId: string;

interface WebhookData extends RoutingFields {
  report: RunReport;
}
const dataOf = (body: unknown) => (body as { data: WebhookData }).data;
const callbacks = () => world.receiver.requests.map((r) => dataOf(r.json));
const titleFor = (runId: string) => `Long session runId=${runId} callbackSession=${SESSION_KEY}`;

async function waitForCallbacks(count: number, timeoutMs = 15_000): Promise<WebhookData[]> {
  return waitFor(
    `${count} callbacks`,
    () => (callbacks().length >= count ? callbacks() : undefined),
    timeoutMs,
  );
}

/** One turn with its own runId; resolves with its callback. */
async function turn(index: number, prompt: string): Promise<WebhookData> {
  const runId = `run-long-${index}`;
  await world.server.patchTitle(sessionId, titleFor(runId));
  await world.server.prompt(sessionId, prompt, 60_000);
  const all = await waitForCallbacks(index + 1);
  const mine = all.filter((c) => c.runId === runId);
  expect(mine).toHaveLength(1);
  return mine[0] as WebhookData;
}

beforeAll(async () => {
  world = await startWorld({
    relayConfig: (url) =>
      relayConfigFor(url, { target: { kind: "webhook", url: `${url}/hook`, secret: SECRET } }),
  });
  sessionId = (await world.server.createSession(titleFor("run-long-0"))).id;
  for (let i = 0; i < TURNS; i += 1) {
    const data = await turn(i, `[[fake:text text=answer_of_turn_${i}]] question ${i}`);
    expect(data.report.summary).toBe(`answer of turn ${i}`);
  }
});

afterAll(async () => {
  await world?.close();
});

describe("a long tagged session", () => {
  it("reports each turn's own answer and tokens, and a last multi-step turn whole", async () => {
    // A last turn of five steps (four tool calls, then the answer): more steps than the first window.
    let step = 0;
    world.model.respondWith((request) => {
      if (request.body.stream !== true) return undefined; // not a step of the turn
      step += 1;
      return step <= 4
        ? { kind: "write", path: `notes-${step}.txt`, content: `step ${step}\n` }
        : { kind: "text", text: "all written" };
    });
    const data = await turn(TURNS, "write three notes");
    world.model.respondWith(undefined);
    expect(data.outcome).toBe("completed");
    expect(data.report.summary).toBe("all written");
    // Five steps of 12 in / 5 out each: this turn only, not the 30 before it.
    expect(data.report.tokens).toMatchObject({ input: 60, output: 25 });
    expect([...data.report.filesChanged].sort()).toEqual([1, 2, 3, 4].map((n) => `notes-${n}.txt`));
    const messages = await world.server.messages(sessionId);
    expect(messages.length).toBe(2 * TURNS + 6);
    // Every turn, the multi-step one included, was settled from the events: OpenCode never asked.
    const accepted = await world.waitForAudit(
      (r) => r.sessionId === sessionId && r.phase === "accepted",
      TURNS + 1,
    );
    expect(accepted.map((r) => r.settledFrom)).toEqual(accepted.map(() => "events"));
  });

  it("settles the last turn from a bounded read of the real server, equal to the whole history's run", async () => {
    const limits: Array<number | null> = [];
    let bytes = 0;
    const client = createOpencodeClient({
      baseUrl: world.server.url,
      fetch: async (request: Request) => {
        const url = new URL(request.url);
        if (url.pathname.endsWith("/message")) limits.push(Number(url.searchParams.get("limit")) || null);
        const response = await fetch(request);
        const body = await response.arrayBuffer();
        bytes += body.byteLength;
        return new Response(body, { status: response.status, headers: response.headers });
      },
    });
    const reader = clientReader(client as never);
    const all = (await world.server.messages(sessionId)) as SessionMessage[];
    const endedAt = Math.max(...all.map((m) => m.info.time?.completed ?? m.info.time?.created ?? 0)) + 1;
    const end = {
      sessionId,
      pinnedTitle: titleFor("x"),
      currentTitle: titleFor("x"),
      startedAt: 0,
      endedAt,
      endedInRetry: false,
    };
    const window = await readLastTurn(reader, sessionId, { endedAt });
    // The limit reached the server, the window grew once (4 → 16) for the 6-message turn.
    expect(limits).toEqual([4, 16]);
    expect(window.length).toBe(16);
    expect(buildRun(end, window, world.server.projectDir)).toEqual(
      buildRun(end, all, world.server.projectDir),
    );
    const windowBytes = bytes;
    bytes = 0;
    expect(await reader.messages(sessionId)).toHaveLength(all.length);
    expect(windowBytes).toBeLessThan(bytes / 2);
  });
});
