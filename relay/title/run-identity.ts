import { EQUALS_LOOK_ALIKES } from "./confusable-key.ts";
import { INVISIBLE_CHARACTERS } from "./invisible-characters.ts";
import { parseTitle } from "./parse-title.ts";
import { percentDecode } from "./percent-decode.ts";
import { MAX_TITLE_LENGTH } from "./title-tags.ts";

/** Which run a title names, as far as pinning is concerned. */
export type RunIdentity =
  | { tagged: false }
  | {
      tagged: true;
      /** The decoded runId as parseTitle reads it (a best-effort reading when `parses` is false). */
      runId: string;
      /**
       * The run's identity: the NFKC form of the decoded runId, so re-spelling a runId (`run%2D42`,
       * fullwidth `run-４２`) is the same run, and editing its routing tags is INTEGRITY_TAGS_CHANGED.
       */
      key: string;
      /** False when parseTitle refuses the title: its run must still end in an integrity_error. */
      parses: boolean;
    };

const UNTAGGED: RunIdentity = { tagged: false };

/**
 * The run a session title names. A title parseTitle accepts is tagged when its runId is non-empty.
 * A title it refuses is still tagged when some reading of it finds a non-empty runId (the exact
 * `runId=` token, or one written in other case, width or with invisible characters), so that the
 * run is tracked and ends in an integrity_error record instead of silence; otherwise untagged, like
 * any human title. Never throws; O(title length), which is bounded by parseTitle's limit.
 */
export function runIdentity(title: string): RunIdentity {
  let runId: string | undefined;
  try {
    runId = parseTitle(title).tags.runId;
  } catch {
    const loose = looseRunId(title);
    return loose === undefined
      ? UNTAGGED
      : { tagged: true, runId: loose, key: loose.normalize("NFKC"), parses: false };
  }
  return runId === undefined || runId === ""
    ? UNTAGGED
    : { tagged: true, runId, key: runId.normalize("NFKC"), parses: true };
}

/** The first non-empty runId any loose reading finds in a title parseTitle refused, or undefined. */
function looseRunId(title: string): string | undefined {
  // Over-long titles are refused for their length alone; a bounded prefix is enough to look in.
  for (const word of title.slice(0, 2 * MAX_TITLE_LENGTH).split(/\s+/u)) {
    const seen = word.replace(INVISIBLE_CHARACTERS, "").normalize("NFKC").replace(EQUALS_LOOK_ALIKES, "=");
    const at = seen.indexOf("=");
    if (at <= 0 || percentDecode(seen.slice(0, at), "lenient").toLowerCase() !== "runid") continue;
    const value = percentDecode(seen.slice(at + 1), "lenient").replace(INVISIBLE_CHARACTERS, "");
    if (value !== "") return value;
  }
  return undefined;
}
