import { describeRunError, type RunIdentity, runIdentity } from "../relay/index.ts";

/**
 * Terminal detection over OpenCode's event stream (DESIGN.md "Terminal runs and dedupe"), as a
 * synchronous state machine: every call is O(1) in the number of sessions, does no I/O, and
 * reports through callbacks. What the turn produced is read afterwards (settle-run.ts).
 *
 * What it relies on, as observed with OpenCode 1.18.33 (test/fixtures/opencode-1.18.33/):
 * - a turn is `session.status busy` (repeated per step, alternating with `retry`) … then
 *   `session.status idle` and `session.idle`; after an error or abort there are two such idles
 *   with a `message.updated` between them. The first idle after busy is the terminal point;
 *   every later idle finds no turn and is ignored;
 * - `session.error` comes before the first idle of the turn it ends;
 * - an abort while waiting to retry ends the turn with one idle and no error at all.
 */

/** A tagged run's title pins: the first title seen for a runId, and the latest with that runId. */
export interface RunPin {
  /**
   * The run's identity inside one session: its decoded runId, NFKC-normalised (runIdentity), so a
   * re-spelled runId (`run%2D42` for `run-42`) is the same run and a routing edit under it is
   * caught as INTEGRITY_TAGS_CHANGED. A title parseTitle refuses is pinned by its best reading.
   */
  key: string;
  pinnedTitle: string;
  currentTitle: string;
}

/** A tagged run's turn reached its terminal point. */
export interface TurnEnd {
  sessionId: string;
  pinnedTitle: string;
  currentTitle: string;
  /** Epoch ms of the turn's first busy (or retry) status. */
  startedAt: number;
  /** Epoch ms of the first idle. */
  endedAt: number;
  /** The `session.error` seen during the turn. */
  error?: { name: string; message: string };
  /** The last status before the idle was `retry`: the turn was aborted while waiting to retry. */
  endedInRetry: boolean;
}

export interface SessionTrackerOptions {
  /** Called synchronously at a tagged run's terminal point. Keep it cheap; it must not throw. */
  onTerminal: (end: TurnEnd) => void;
  /**
   * A session went busy before its title was seen (the plugin started after it was created):
   * look the title up and answer with `learnTitle` or `titleUnavailable`. Asked once per turn.
   */
  onUnknownTitle?: (sessionId: string) => void;
  /**
   * A turn of a tagged run began (its busy, or the title learned for a turn that began unseen),
   * with the run's pin: the plugin journals the run. Called once per turn, never per event;
   * keep it cheap, it must not throw.
   */
  onRunStart?: (sessionId: string, pin: RunPin, startedAt: number) => void;
  /** @default Date.now */
  now?: () => number;
  /** Sessions remembered before the least recently used is forgotten. @default 10000 */
  maxSessions?: number;
}

/** The events the tracker reads: OpenCode's `{type, properties}`, loosely typed on purpose. */
export interface TrackedEvent {
  type: string;
  properties?: unknown;
}

export interface SessionTracker {
  /** Feed one event. Never throws; irrelevant event types return at once. */
  handle(event: TrackedEvent): void;
  /** A title learned out of band (the answer to `onUnknownTitle`). */
  learnTitle(sessionId: string, title: string): void;
  /** The title lookup failed: a turn waiting on it is dropped (nothing is known to route it). */
  titleUnavailable(sessionId: string): void;
  /** The session's title as last seen in its events (or learned), if any: O(1), no I/O. */
  titleOf(sessionId: string): string | undefined;
  /**
   * Whether the session's turns are followed: seen, and tagged or its title not known yet. A
   * session never seen (created before the plugin started) is not, until its first busy. O(1).
   */
  follows(sessionId: string): boolean;
  /** Sessions currently remembered. */
  size(): number;
}

/** Runs remembered per session, so a title switched back to an earlier runId keeps that run's pin. */
const MAX_PINS_PER_SESSION = 8;
interface Turn {
  startedAt: number;
  /** The run the turn started with; `undefined` while the title is unknown. */
  run: RunPin | undefined;
  titleUnknown: boolean;
  error?: { name: string; message: string };
  lastStatus: "busy" | "retry";
  /** The idle came while the title was still unknown: finish once it is learned. */
  endedAt?: number;
}

interface SessionState {
  /** false: title known and untagged; true: known and tagged; undefined: not seen yet. */
  tagged: boolean | undefined;
  /** The run the session's title names now (the next turn's run). */
  run: RunPin | undefined;
  pins: RunPin[];
  turn: Turn | undefined;
  titleRequested: boolean;
  /** The last title read and what it names: OpenCode repeats the title on every session.updated. */
  title?: string;
  identity?: RunIdentity;
}

/** Create the tracker. One per plugin instance (OpenCode starts one per served directory). */
export function createSessionTracker(options: SessionTrackerOptions): SessionTracker {
  const now = options.now ?? Date.now;
  const max = options.maxSessions ?? 10_000;
  const sessions = new Map<string, SessionState>();

  /** Get (and mark as recently used) a session's state, creating it when asked to. */
  function touch(id: string, create: true): SessionState;
  function touch(id: string, create: false): SessionState | undefined;
  function touch(id: string, create: boolean): SessionState | undefined {
    let state = sessions.get(id);
    if (state) {
      // Map keeps insertion order: re-inserting makes this the most recent entry.
      sessions.delete(id);
      sessions.set(id, state);
      return state;
    }
    if (!create) return undefined;
    state = { tagged: undefined, run: undefined, pins: [], turn: undefined, titleRequested: false };
    sessions.set(id, state);
    if (sessions.size > max) {
      const oldest = sessions.keys().next().value;
      if (oldest !== undefined) sessions.delete(oldest);
    }
    return state;
  }

  function setTitle(id: string, title: string): void {
    const state = touch(id, true);
    if (state.title !== title || state.identity === undefined) {
      state.title = title;
      state.identity = runIdentity(title);
    }
    const identity = state.identity;
    state.tagged = identity.tagged;
    if (!identity.tagged) {
      state.run = undefined;
    } else {
      const key = identity.key;
      let pin = state.pins.find((p) => p.key === key);
      if (pin) {
        pin.currentTitle = title;
      } else {
        pin = { key, pinnedTitle: title, currentTitle: title };
        state.pins.push(pin);
        if (state.pins.length > MAX_PINS_PER_SESSION) state.pins.shift();
      }
      state.run = pin;
    }
    const turn = state.turn;
    if (turn?.titleUnknown) {
      // The first title learned for a turn that began unseen is the best view of its start.
      turn.titleUnknown = false;
      turn.run = state.run;
      if (turn.run) options.onRunStart?.(id, turn.run, turn.startedAt);
      if (turn.endedAt !== undefined) finish(id, state, turn.endedAt);
    }
  }

  function busy(id: string, status: "busy" | "retry"): void {
    const state = touch(id, true);
    if (state.tagged === false && !state.turn) return; // untagged: nothing to follow
    if (state.turn && state.turn.endedAt === undefined) {
      state.turn.lastStatus = status;
      return;
    }
    const turn: Turn = {
      startedAt: now(),
      run: state.run,
      titleUnknown: state.tagged === undefined,
      lastStatus: status,
    };
    state.turn = turn;
    if (turn.run) options.onRunStart?.(id, turn.run, turn.startedAt);
    if (turn.titleUnknown && !state.titleRequested) {
      state.titleRequested = true;
      options.onUnknownTitle?.(id);
    }
  }

  function idle(id: string): void {
    const state = touch(id, false);
    const turn = state?.turn;
    if (!state || !turn || turn.endedAt !== undefined) return; // the second idle of a turn
    turn.endedAt = now();
    if (!turn.titleUnknown) finish(id, state, turn.endedAt);
  }

  function finish(id: string, state: SessionState, endedAt: number): void {
    const turn = state.turn;
    state.turn = undefined;
    state.titleRequested = false;
    if (!turn?.run) return;
    const end: TurnEnd = {
      sessionId: id,
      pinnedTitle: turn.run.pinnedTitle,
      currentTitle: turn.run.currentTitle,
      startedAt: turn.startedAt,
      endedAt,
      endedInRetry: turn.lastStatus === "retry" && turn.error === undefined,
    };
    if (turn.error) end.error = turn.error;
    options.onTerminal(end);
  }

  function error(id: string, raw: unknown): void {
    const turn = touch(id, false)?.turn;
    if (!turn || turn.endedAt !== undefined || turn.error) return;
    turn.error = describeRunError(raw);
  }

  return {
    handle(event) {
      try {
        const p = event.properties as Record<string, unknown> | undefined;
        switch (event.type) {
          case "session.created":
          case "session.updated": {
            const info = p?.info as { id?: unknown; title?: unknown } | undefined;
            if (typeof info?.id === "string" && typeof info.title === "string") setTitle(info.id, info.title);
            return;
          }
          case "session.status": {
            const id = p?.sessionID;
            const type = (p?.status as { type?: unknown } | undefined)?.type;
            if (typeof id !== "string") return;
            if (type === "busy" || type === "retry") busy(id, type);
            else if (type === "idle") idle(id);
            return;
          }
          case "session.idle":
            if (typeof p?.sessionID === "string") idle(p.sessionID);
            return;
          case "session.error":
            if (typeof p?.sessionID === "string") error(p.sessionID, p.error);
            return;
          case "session.deleted": {
            const id = (p?.info as { id?: unknown } | undefined)?.id;
            if (typeof id === "string") sessions.delete(id);
            return;
          }
          default:
            return;
        }
      } catch (caught) {
        // A sync throw would stop later plugins from seeing this event: report, never rethrow.
        console.error(`opencode-callback-relay: event ${String(event?.type)} not tracked: ${String(caught)}`);
      }
    },
    learnTitle(sessionId, title) {
      try {
        setTitle(sessionId, title);
      } catch (caught) {
        console.error(`opencode-callback-relay: title not tracked: ${String(caught)}`);
      }
    },
    titleUnavailable(sessionId) {
      const state = sessions.get(sessionId);
      if (!state?.turn?.titleUnknown) return;
      state.titleRequested = false;
      // Still running: a later busy asks again. Already idle: nothing can route it; drop it.
      if (state.turn.endedAt !== undefined) state.turn = undefined;
    },
    titleOf: (sessionId) => sessions.get(sessionId)?.title,
    follows: (sessionId) => {
      const state = sessions.get(sessionId);
      return state !== undefined && state.tagged !== false;
    },
    size: () => sessions.size,
  };
}
