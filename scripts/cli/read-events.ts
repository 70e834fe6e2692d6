/** One OpenCode bus event as `GET /event` sends it. */
export interface BusEvent {
  type: string;
  properties: Record<string, unknown>;
}

/**
 * The events of a server-sent event stream: each event's `data:` lines joined and parsed as JSON.
 * Comments, other fields and data that is not a `{type, properties}` object are skipped (OpenCode
 * sends heartbeats). Ends when the stream does.
 */
export async function* readEvents(stream: ReadableStream<Uint8Array>): AsyncGenerator<BusEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replaceAll("\r\n", "\n");
      for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseBlock(block);
        if (event) yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function parseBlock(block: string): BusEvent | null {
  const data = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5))
    .join("\n");
  if (data === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  // /global/event wraps each event as {directory, payload}; /event does not.
  const event = (parsed as { payload?: unknown }).payload ?? parsed;
  if (typeof event !== "object" || event === null) return null;
  const { type, properties } = event as { type?: unknown; properties?: unknown };
  if (typeof type !== "string") return null;
  return {
    type,
    properties:
      typeof properties === "object" && properties !== null ? (properties as Record<string, unknown>) : {},
  };
}
