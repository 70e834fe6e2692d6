/**
 * The outcome of a session's last turn as OpenCode stored it, read independently of the plugin's
 * own settle code: the last assistant message's error (an abort or anything else), else
 * `completed` when it finished and asked for no more tools, else the turn never settled.
 */
export function storedOutcome(messages: Array<{ info: Record<string, unknown> }>): string {
  const last = messages.filter((m) => m.info.role === "assistant").at(-1)?.info;
  if (!last) return "interrupted";
  const error = last.error as { name?: string } | undefined;
  if (error) return error.name === "MessageAbortedError" ? "aborted" : "failed";
  const time = last.time as { completed?: number } | undefined;
  return time?.completed !== undefined && last.finish !== "tool-calls" ? "completed" : "interrupted";
}
