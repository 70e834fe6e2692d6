import { describe, expect, it } from "vitest";
import { followRun } from "../../scripts/cli/follow-run.ts";
import type { BusEvent } from "../../scripts/cli/read-events.ts";

/** Event sequences as OpenCode 1.18.33 publishes them (see shared/facts/opencode-runtime.md). */
const S = "ses_1";
const busy = (id = S): BusEvent => ({
  type: "session.status",
  properties: { sessionID: id, status: { type: "busy" } },
});
const idle = (id = S): BusEvent[] => [
  { type: "session.status", properties: { sessionID: id, status: { type: "idle" } } },
  { type: "session.idle", properties: { sessionID: id } },
];
const error = (name: string, message?: string): BusEvent => ({
  type: "session.error",
  properties: { sessionID: S, error: { name, data: message === undefined ? {} : { message } } },
});

async function* stream(events: BusEvent[]): AsyncGenerator<BusEvent> {
  yield* events;
}

const assistant = (info: Record<string, unknown>) => [
  { info: { role: "user" } },
  { info: { role: "assistant", ...info } },
];

describe("followRun", () => {
  it("ends completed at the idle after busy once the last assistant message is finished", async () => {
    let reads = 0;
    const end = await followRun(stream([busy(), ...idle()]), S, async () => {
      reads += 1;
      return assistant({ time: { created: 1, completed: 2 } });
    });
    expect(end).toEqual({ outcome: "completed", error: null });
    expect(reads).toBe(1);
  });

  it("ignores idles before busy and other sessions' idles (a subagent goes idle first)", async () => {
    const log: string[] = [];
    async function* logged(events: BusEvent[]): AsyncGenerator<BusEvent> {
      for (const event of events) {
        log.push(`${event.type}:${String(event.properties.sessionID)}`);
        yield event;
      }
    }
    const events = [...idle(), busy(), busy("child"), ...idle("child"), ...idle()];
    const end = await followRun(logged(events), S, async () => {
      log.push("read");
      return assistant({ time: { completed: 2 } });
    });
    expect(end.outcome).toBe("completed");
    // The one read comes at the parent's first idle after its busy, not before.
    expect(log.slice(-2)).toEqual([`session.status:${S}`, "read"]);
    expect(log.filter((entry) => entry === "read")).toHaveLength(1);
  });

  it("an error turn: the session.error decides, although the first idle's message has no error yet", async () => {
    const events = [busy(), error("APIError", "Unauthorized"), ...idle(), ...idle()];
    const end = await followRun(stream(events), S, async () => assistant({ time: { completed: 2 } }));
    expect(end).toEqual({ outcome: "failed", error: { name: "APIError", message: "Unauthorized" } });
  });

  it("an abort is aborted", async () => {
    const end = await followRun(stream([busy(), error("MessageAbortedError"), ...idle()]), S, async () => []);
    expect(end.outcome).toBe("aborted");
  });

  it("waits past an idle whose message is still unsettled, and reads the error from the message", async () => {
    const answers = [
      assistant({ time: { created: 1 } }),
      assistant({ error: { name: "APIError", data: { message: "boom" } } }),
    ];
    const end = await followRun(stream([busy(), ...idle()]), S, async () => answers.shift() ?? []);
    expect(end).toEqual({ outcome: "failed", error: { name: "APIError", message: "boom" } });
  });

  it("is unknown when the stream ends first (the server stopped)", async () => {
    const end = await followRun(stream([busy()]), S, async () => []);
    expect(end.outcome).toBe("unknown");
  });
});
