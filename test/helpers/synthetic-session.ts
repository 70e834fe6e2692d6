import type { LastTurnReader } from "../../plugin/read-last-turn.ts";
import type { SessionMessage } from "../../plugin/settle-run.ts";

/**
 * Sessions shaped like OpenCode 1.18.33's `GET /session/:id/message` (see the recorded fixtures):
 * each turn is a user message and the assistant steps answering it (`parentID` = the user
 * message's id), 10 ms apart, each step billed 12 input / 5 output tokens and 0.5 cost.
 */
export interface SyntheticTurn {
  /** Assistant messages answering the user message (0: a turn with no answer yet). @default 1 */
  steps?: number;
  /** The last step neither completed nor failed (cut off, or still streaming). @default false */
  unsettled?: boolean;
}

/** Turn `n` of a synthetic session answers with this text (only its last step has text). */
export const answerOf = (turn: number) => `answer of turn ${turn}`;

export function syntheticSession(turns: readonly SyntheticTurn[], startAt = 1_000_000): SessionMessage[] {
  const messages: SessionMessage[] = [];
  let t = startAt;
  let seq = 0;
  const id = () => {
    seq += 1;
    return `msg_${String(seq).padStart(6, "0")}`;
  };
  const tick = () => {
    t += 10;
    return t;
  };
  turns.forEach((turn, n) => {
    const userId = id();
    messages.push({
      info: { id: userId, role: "user", time: { created: tick() } },
      parts: [{ type: "text", text: `question ${n}` }],
    });
    const steps = turn.steps ?? 1;
    for (let step = 0; step < steps; step += 1) {
      const created = tick();
      const last = step === steps - 1;
      const settled = !(last && turn.unsettled);
      messages.push({
        info: {
          id: id(),
          role: "assistant",
          parentID: userId,
          agent: "build",
          providerID: "fake",
          modelID: "fake-model",
          cost: 0.5,
          tokens: { input: 12, output: 5, reasoning: 0, cache: { read: 0, write: 0 } },
          time: settled ? { created, completed: created + 5 } : { created },
        },
        parts: last
          ? [{ type: "step-start" }, { type: "text", text: answerOf(n) }, { type: "step-finish" }]
          : [{ type: "step-start" }, { type: "tool" }, { type: "step-finish" }],
      });
    }
  });
  return messages;
}

/**
 * A reader over `messages` that answers as OpenCode does (the newest `limit`, oldest first) and
 * records each limit asked for.
 */
export function limitedReader(
  messages: readonly SessionMessage[],
): LastTurnReader & { limits: Array<number | undefined> } {
  const limits: Array<number | undefined> = [];
  return {
    limits,
    async messages(_sessionId, limit) {
      limits.push(limit);
      // A window that never stops growing is a bug: fail the test instead of hanging it.
      if (limits.length > 20) throw new Error(`runaway: ${limits.length} reads`);
      return limit === undefined || limit === 0 ? [...messages] : messages.slice(-limit);
    },
  };
}
