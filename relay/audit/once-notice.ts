/** Writes a line to stderr once per kind of trouble: a broken disk must not flood the host's log. */
export type Notice = (kind: string, text: string) => void;

/** A Notice with its own memory of kinds already said. */
export function onceNotice(): Notice {
  const said = new Set<string>();
  return (kind, text) => {
    if (said.has(kind)) return;
    said.add(kind);
    process.stderr.write(`opencode-callback-relay: ${text}\n`);
  };
}

/** The errno code of a file-system error, for notices and fallback records. */
export function errno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" ? code : "EUNKNOWN";
}
