import { hasRunId } from "../relay/index.ts";
import type { SessionReader } from "./create-event-hook.ts";
import type { RunJournaller } from "./create-run-journaller.ts";

export interface PromptHookOptions {
  /** The title a session's events last showed (the event hook's `titleOf`): O(1), no I/O. */
  titleOf(sessionId: string): string | undefined;
  /** Asked only for a session whose events this instance never saw (created before it started). */
  reader: Pick<SessionReader, "title">;
  journaller: Pick<RunJournaller, "startNow">;
  /** The longest a prompt waits on the title lookup, and again on the journal write, ms. @default 2000 */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The plugin's `chat.message` hook, which OpenCode awaits after storing the user's message and
 * before it marks the session busy and calls the model: a tagged run is journalled here, so it is
 * on disk before its turn can even begin, and a stop at any later point finds it (the journal
 * written from the `busy` event is not awaited, and could land after a short turn had ended).
 * An untagged session costs one map lookup. The wait is bounded: past `timeoutMs` the prompt goes
 * on and the write completes in the background, as from the event. Never rejects.
 */
export function createPromptHook(
  options: PromptHookOptions,
): (input: { sessionID?: unknown }) => Promise<void> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const now = options.now ?? Date.now;
  return async (input) => {
    try {
      const sessionId = input?.sessionID;
      if (typeof sessionId !== "string") return;
      const startedAt = now();
      const title = options.titleOf(sessionId) ?? (await within(options.reader.title(sessionId), timeoutMs));
      if (title === undefined || !hasRunId(title)) return;
      await within(options.journaller.startNow(sessionId, title, startedAt), timeoutMs);
    } catch {
      // Awaited by OpenCode on the prompt's path: never throw into it.
    }
  };
}

/** `promise`'s value, or undefined once it fails or `ms` pass (the promise itself goes on). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}
