/**
 * An error as OpenCode reports it (`session.error`'s `error`, an assistant message's `info.error`:
 * `{name, data: {message}}`, or a plain `{name, message}`), reduced to the name and message a
 * callback carries. Never throws; anything unreadable is `UnknownError`.
 */
export function describeRunError(raw: unknown): { name: string; message: string } {
  const error = (typeof raw === "object" && raw !== null ? raw : {}) as {
    name?: unknown;
    message?: unknown;
    data?: { message?: unknown };
  };
  const name = typeof error.name === "string" && error.name !== "" ? error.name : "UnknownError";
  const message =
    typeof error.data?.message === "string"
      ? error.data.message
      : typeof error.message === "string"
        ? error.message
        : name;
  return { name, message };
}
