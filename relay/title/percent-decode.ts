const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
// ignoreBOM keeps a decoded U+FEFF instead of silently dropping it at the start of a run.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decode every run of `%XX` escapes as UTF-8. A `%` not followed by two hex digits is kept as it
 * is (titles from older tools: `ratio=50%`). A run that is not valid UTF-8, or whose decoding
 * `refuse` rejects, makes the result `null` in "strict" mode and is kept literally in "lenient"
 * mode.
 */
export function percentDecode(
  raw: string,
  mode: "strict",
  refuse?: (decoded: string) => boolean,
): string | null;
export function percentDecode(raw: string, mode: "lenient", refuse?: (decoded: string) => boolean): string;
export function percentDecode(
  raw: string,
  mode: "strict" | "lenient",
  refuse: (decoded: string) => boolean = () => false,
): string | null {
  if (!raw.includes("%")) return raw;
  let invalid = false;
  const decoded = raw.replace(ESCAPE_RUN, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      invalid = true;
      return run;
    }
    if (!refuse(text)) return text;
    invalid = true;
    return run;
  });
  return invalid && mode === "strict" ? null : decoded;
}
