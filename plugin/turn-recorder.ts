import { holdsLastTurn } from "./read-last-turn.ts";
import type { TrackedEvent } from "./session-tracker.ts";
import type { SessionMessage } from "./settle-run.ts";

/**
 * What OpenCode's events told about each followed session's current turn, so that a terminal run
 * is settled without asking OpenCode anything (issue 12). Right after a turn on a long session
 * OpenCode is busy with its own post-turn work (it re-reads the whole history to summarise the
 * turn's diffs), and a read through its client waits behind it: 69 ms after a fresh session's
 * turn, 328 ms after a 200-turn one's (BENCHMARKS.md, section 7). The events carry everything the
 * report reads (`buildRun`): each message's `info` on every `message.updated`, and each part whole
 * on `message.part.updated` (a text part ends with its full text; deltas are not needed).
 *
 * A session's recording starts at a user message (a turn's prompt) and holds every message after
 * it, as the listing would show them; only the parts the report reads (`text`, `patch`) are kept,
 * so tool output is never held. It is trusted only when it holds the turn whole from its prompt,
 * and that prompt was created after the hook went live (so its creation, and everything after it,
 * reached the hook): otherwise `view` answers `undefined` and the caller reads, as before. A
 * recording is dropped once its run is settled, so memory held is one turn per followed session
 * that is mid-turn, not the session's history.
 */
export interface TurnRecorder {
  /**
   * The hook saw its first event: from now on every event reaches it, so a prompt created since
   * (and all that followed it) is seen whole. Before this, nothing is trusted.
   */
  markLive(): void;
  /** Feed one `message.*` event. O(1) in the session's length; never throws. */
  handle(event: TrackedEvent): void;
  /**
   * The session's messages as the events told them, oldest first, if they hold its last turn
   * ended by `endedAt` whole and were recorded from that turn's prompt on; else `undefined`.
   */
  view(sessionId: string, endedAt: number): SessionMessage[] | undefined;
  /**
   * A run of the session reached its terminal point: keep its messages (and a prompt sent after
   * it) until the returned release is called, once the run is settled.
   */
  hold(sessionId: string): () => void;
  /** Sessions with a recording. */
  size(): number;
  /** Messages held, in every recording (each a turn in progress or one still settling). */
  messageCount(): number;
}

export interface TurnRecorderOptions {
  /** Whether a session's turns are followed (tagged, or its title not known yet). */
  follows(sessionId: string): boolean;
  /** @default Date.now, the clock OpenCode stamps `time.created` with (same process) */
  now?: () => number;
  /** Recordings kept before the one whose turn began longest ago is dropped. @default 1000 */
  maxSessions?: number;
}

interface Recorded {
  info: SessionMessage["info"];
  parts: Map<string, SessionMessage["parts"][number]>;
}

interface Recording {
  messages: Map<string, Recorded>;
  /** Runs being settled from this recording: a new prompt adds to it instead of restarting it. */
  holds: number;
  /**
   * When the recording's prompt was created (or, once its messages are dropped, the settled
   * run's prompt). OpenCode updates earlier prompts during later turns (their diff summaries): a
   * user message created by then is such an update, not a new turn, and starts nothing.
   */
  floor: number;
}

export function createTurnRecorder(options: TurnRecorderOptions): TurnRecorder {
  const now = options.now ?? Date.now;
  const max = options.maxSessions ?? 1_000;
  const sessions = new Map<string, Recording>();
  /** When the hook saw its first event: a prompt created before then may have been missed. */
  let liveSince: number | undefined;
  /** Events the hook handed over, not recorded yet (see `handle`). */
  let pending: TrackedEvent[] = [];
  let scheduled = false;

  function messageUpdated(info: SessionMessage["info"] & { sessionID?: unknown }): void {
    const sessionId = info.sessionID;
    const id = info.id;
    if (typeof sessionId !== "string" || typeof id !== "string") return;
    let recording = sessions.get(sessionId);
    // Only a prompt starts a recording: any other message of a session without one is skipped
    // without asking whether the session is followed.
    if (!recording && info.role !== "user") return;
    const known = recording?.messages.get(id);
    if (known) {
      known.info = info;
      return;
    }
    if (info.role === "user") {
      if (!options.follows(sessionId)) {
        sessions.delete(sessionId);
        return;
      }
      const created = info.time?.created ?? 0;
      if (recording && created <= recording.floor) return;
      // A new prompt starts the turn's recording; what came before it is no longer needed,
      // unless a run of the session is still being settled from it.
      if (!recording || recording.holds === 0) {
        recording = { messages: new Map(), holds: 0, floor: created };
        // Once per turn: re-inserted, so the bound drops the turn that began longest ago.
        sessions.delete(sessionId);
        sessions.set(sessionId, recording);
        if (sessions.size > max) {
          const oldest = sessions.keys().next().value;
          if (oldest !== undefined && oldest !== sessionId) sessions.delete(oldest);
        }
      }
    }
    // An assistant message with no recorded prompt before it: the recording began mid-turn.
    recording?.messages.set(id, { info, parts: new Map() });
  }

  function partUpdated(part: {
    id?: unknown;
    messageID?: unknown;
    sessionID?: unknown;
    type?: unknown;
  }): void {
    if (typeof part.sessionID !== "string" || typeof part.id !== "string") return;
    const message =
      typeof part.messageID === "string"
        ? sessions.get(part.sessionID)?.messages.get(part.messageID)
        : undefined;
    if (message?.info.role === "assistant")
      message.parts.set(part.id, part as SessionMessage["parts"][number]);
  }

  /** `message.part.removed` (with `partID`) or `message.removed`: forget it. */
  function removed({ sessionID, messageID, partID }: Record<string, unknown>): void {
    if (typeof sessionID !== "string" || typeof messageID !== "string") return;
    const messages = sessions.get(sessionID)?.messages;
    if (typeof partID === "string") messages?.get(messageID)?.parts.delete(partID);
    else messages?.delete(messageID);
  }

  function record(event: TrackedEvent): void {
    try {
      const p = event.properties as Record<string, unknown> | undefined;
      const type = event.type;
      if (type === "message.part.updated") {
        const part = p?.part as { type?: unknown } | undefined;
        // Most part updates are steps and tool calls: dropped on their type alone.
        if (part?.type === "text" || part?.type === "patch") partUpdated(part);
      } else if (type === "message.updated") {
        const info = p?.info;
        if (info && typeof info === "object") messageUpdated(info as SessionMessage["info"]);
      } else if (type === "message.part.removed" || type === "message.removed") {
        removed(p ?? {});
      }
    } catch (caught) {
      console.error(`opencode-callback-relay: event ${String(event?.type)} not recorded: ${String(caught)}`);
    }
  }

  /** Record what the hook queued, oldest first. */
  function drain(): void {
    scheduled = false;
    if (pending.length === 0) return;
    const events = pending;
    pending = [];
    for (const event of events) record(event);
  }

  /** Drop the settled turn: keep the recording from the next prompt on, if one came. */
  function release(sessionId: string, recording: Recording, prompt: string | undefined): void {
    if (sessions.get(sessionId) !== recording) return; // dropped meanwhile (forgotten, untagged)
    recording.holds = Math.max(0, recording.holds - 1);
    if (recording.holds > 0) return;
    let next: string | undefined;
    for (const [id, { info }] of recording.messages) {
      if (info.role === "user" && id !== prompt) {
        next = id;
        break;
      }
    }
    if (next === undefined) {
      sessions.set(sessionId, { messages: new Map(), holds: 0, floor: recording.floor });
      return;
    }
    for (const id of [...recording.messages.keys()]) {
      if (id === next) break;
      recording.messages.delete(id);
    }
    recording.floor = recording.messages.get(next)?.info.time?.created ?? recording.floor;
  }

  return {
    markLive() {
      liveSince ??= now();
    },
    handle(event) {
      // Off the hook's stack: OpenCode publishes events in a synchronous loop, so the hook only
      // queues the reference; the queue is recorded in order on a later turn of the event loop,
      // and always before a terminal point holds the recording or a settle reads it.
      pending.push(event);
      if (scheduled) return;
      scheduled = true;
      setImmediate(drain);
    },
    view(sessionId, endedAt) {
      drain();
      const recording = sessions.get(sessionId);
      if (!recording || liveSince === undefined) return undefined;
      const messages: SessionMessage[] = [];
      for (const { info, parts } of recording.messages.values()) {
        const kept = [...parts.values()];
        // A settled message with a text part still streaming: the part's end never reached the
        // hook, the listing may know better. (An abort ends its text part after the idle, just
        // before the message: the settle waits for that message, and sees the part ended.)
        const settled = info.time?.completed !== undefined || info.error !== undefined;
        if (settled && kept.some((part) => part.time?.start !== undefined && part.time.end === undefined)) {
          return undefined;
        }
        messages.push({ info, parts: kept });
      }
      const prompt = messages[0]?.info;
      // The recording must start at a prompt whose creation the hook saw (every later event too).
      if (prompt?.role !== "user" || (prompt.time?.created ?? 0) < liveSince) return undefined;
      return holdsLastTurn(messages, endedAt) ? messages : undefined;
    },
    hold(sessionId) {
      drain();
      const held = sessions.get(sessionId);
      // No recording: the run is read, and a prompt sent meanwhile starts the next recording.
      if (!held) return () => {};
      held.holds += 1;
      const first = held.messages.entries().next().value;
      const prompt = first?.[1].info.role === "user" ? first[0] : undefined;
      return () => release(sessionId, held, prompt);
    },
    size() {
      drain();
      return sessions.size;
    },
    messageCount() {
      drain();
      let count = 0;
      for (const recording of sessions.values()) count += recording.messages.size;
      return count;
    },
  };
}
