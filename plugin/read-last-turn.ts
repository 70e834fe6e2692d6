import type { SessionMessage } from "./settle-run.ts";

/**
 * What `readLastTurn` needs of OpenCode: `GET /session/:id/message?limit=N`.
 *
 * Observed with opencode-ai 1.18.33 (a probe against `opencode serve`, and its server code
 * `SessionHttpApi.messages` → `MessageV2.page`): with `limit` N > 0 the server reads only the
 * session's **newest** N messages (SQL `ORDER BY time_created DESC, id DESC LIMIT N+1`) and returns
 * them **oldest first**, like the unlimited listing. When older messages remain it adds an
 * `X-Next-Cursor` header (and `Link: …; rel="next"`) whose value, passed as `before` together with
 * `limit`, pages further back (`before` without `limit` is a 400). Without `limit`, or with 0, it
 * reads and returns the whole history (in pages of 50 internally). A negative limit is a 400.
 */
export interface LastTurnReader {
  /** The session's newest `limit` messages, oldest first; every message when `limit` is absent. */
  messages(sessionId: string, limit?: number): Promise<SessionMessage[]>;
}

export interface ReadLastTurnOptions {
  /**
   * The turn ended at this instant (epoch ms): messages created later belong to a turn the caller
   * started since, and the window reaches back past them. @default Infinity
   */
  endedAt?: number;
  /**
   * Messages asked for on the first read: a plain turn is its user message and one assistant
   * message, so 4 also covers a prompt sent right after the idle. @default 4
   */
  firstLimit?: number;
  /** Each further read asks for this many times more. @default 4 */
  growth?: number;
}

/**
 * The newest messages of a session, oldest first, reaching back far enough to hold its last turn
 * that ended by `endedAt` whole: its last assistant message and every message back to the user
 * message that assistant message answers (a tool-using turn has several assistant steps, and the
 * report sums their tokens and cost). Those are what `buildRun` reads, so `buildRun(end, window)`
 * equals `buildRun(end, allMessages)` while the cost of a read stays flat in the session's length.
 *
 * The window starts at `firstLimit` messages and grows geometrically only while the turn's start
 * is not in it; each read is a fresh snapshot of the newest messages (no cursor), so a turn that
 * is still being written is seen consistently. The listing holds the whole session once it returns
 * fewer messages than asked for. Rejects as the reader rejects.
 */
export async function readLastTurn(
  reader: LastTurnReader,
  sessionId: string,
  options: ReadLastTurnOptions = {},
): Promise<SessionMessage[]> {
  const endedAt = options.endedAt ?? Number.POSITIVE_INFINITY;
  return readBackUntil(reader, sessionId, (messages) => holdsLastTurn(messages, endedAt), options);
}

/**
 * The newest messages of a session, oldest first, in a window that starts at `firstLimit` and grows
 * `growth`-fold until `enough(window)` or the window holds the whole session (the listing returned
 * fewer messages than asked for). Each read is a fresh snapshot of the newest messages.
 */
async function readBackUntil(
  reader: LastTurnReader,
  sessionId: string,
  enough: (messages: SessionMessage[]) => boolean,
  options: Pick<ReadLastTurnOptions, "firstLimit" | "growth">,
): Promise<SessionMessage[]> {
  const growth = Math.max(2, options.growth ?? 4);
  let limit = Math.max(1, Math.floor(options.firstLimit ?? 4));
  for (;;) {
    const messages = await reader.messages(sessionId, limit);
    if (messages.length < limit || enough(messages)) return messages;
    limit *= growth;
  }
}

/**
 * Whether `messages` (a suffix of the session, oldest first) hold the last turn ended by
 * `endedAt` from its start: the newest message not after `endedAt` is a user message (a turn
 * with no answer yet), or an assistant message whose parent user message is in the window. An
 * assistant message that names no parent (never seen from OpenCode) counts from the nearest user
 * message before it.
 */
export function holdsLastTurn(messages: readonly SessionMessage[], endedAt: number): boolean {
  let parentId: string | undefined;
  let seenAssistant = false;
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const info = messages[i]?.info;
    if (!info || (!seenAssistant && (info.time?.created ?? 0) > endedAt)) continue;
    if (!seenAssistant) {
      if (info.role === "user") return true;
      if (info.role !== "assistant") continue;
      seenAssistant = true;
      parentId = info.parentID;
      continue;
    }
    if (parentId === undefined ? info.role === "user" : info.id === parentId) return true;
  }
  return false;
}

/**
 * The newest messages of a session, oldest first, reaching back to the turn that began at
 * `startedAt` (a journalled run: its user message is the last one created by then, see
 * settle-journalled.ts), however many turns came after it. Same geometric window as
 * `readLastTurn`, so reconciling a run costs the same in a long session as in a fresh one.
 */
export async function readTurnStartedAt(
  reader: LastTurnReader,
  sessionId: string,
  startedAt: number,
  options: Pick<ReadLastTurnOptions, "firstLimit" | "growth"> = {},
): Promise<SessionMessage[]> {
  // The window is a suffix of the session: once it holds a user message created by `startedAt`,
  // it holds the last such one, where the run's turn begins.
  return readBackUntil(
    reader,
    sessionId,
    (messages) => messages.some((m) => m.info.role === "user" && (m.info.time?.created ?? 0) <= startedAt),
    options,
  );
}
