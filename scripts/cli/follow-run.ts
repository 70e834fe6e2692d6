import { describeRunError } from "../../relay/index.ts";
import type { BusEvent } from "./read-events.ts";

/** How a dispatched run ended, as `dispatch --wait` reports it. */
export interface RunEnd {
  /** `unknown`: the event stream ended (the server stopped) before the run did. */
  outcome: "completed" | "failed" | "aborted" | "unknown";
  /** The error's name and message for failed/aborted runs, why it is unknown otherwise. */
  error: { name: string; message: string } | null;
}

type Message = { info: Record<string, unknown> };

/**
 * Follow one session's events until its run ends, the way the plugin decides it: the session goes
 * idle after being busy, and the turn is settled. OpenCode publishes the idle of an errored turn
 * before it writes the error to the message (and idles twice), so a `session.error` of the session
 * decides the outcome when one came, and otherwise the last assistant message must be finished
 * (`time.completed`) or carry its error; an idle before that waits for the next one.
 *
 * @param messages reads the session's messages (only at idles).
 */
export async function followRun(
  events: AsyncIterable<BusEvent>,
  sessionId: string,
  messages: () => Promise<Message[]>,
): Promise<RunEnd> {
  let busy = false;
  let error: RunEnd["error"] = null;
  for await (const event of events) {
    if (event.properties.sessionID !== sessionId) continue;
    const status = (event.properties.status as { type?: unknown } | undefined)?.type;
    if (event.type === "session.status" && (status === "busy" || status === "retry")) busy = true;
    else if (event.type === "session.error") error = describeRunError(event.properties.error);
    else if (
      busy &&
      (event.type === "session.idle" || (event.type === "session.status" && status === "idle"))
    ) {
      if (error) return { outcome: outcomeOf(error), error };
      const settled = settledEnd(await messages());
      if (settled) return settled;
    }
  }
  return {
    outcome: "unknown",
    error: {
      name: "EventStreamEnded",
      message: "the server's event stream ended before the run did (was opencode serve stopped?)",
    },
  };
}

/** The end the last assistant message records, or null while it is still being written. */
function settledEnd(messages: Message[]): RunEnd | null {
  const last = messages.findLast((message) => message.info.role === "assistant")?.info;
  if (!last) return null;
  if (last.error !== undefined && last.error !== null) {
    const error = describeRunError(last.error);
    return { outcome: outcomeOf(error), error };
  }
  const completed = (last.time as { completed?: unknown } | undefined)?.completed;
  return typeof completed === "number" ? { outcome: "completed", error: null } : null;
}

function outcomeOf(error: { name: string }): "failed" | "aborted" {
  return error.name === "MessageAbortedError" ? "aborted" : "failed";
}
