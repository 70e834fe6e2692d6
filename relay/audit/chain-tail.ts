import { lstat } from "node:fs/promises";
import { openNoFollow } from "../state/index.ts";
import { listRotated, readHead } from "./audit-files.ts";
import { GENESIS_HASH } from "./hash-record.ts";
import type { Notice } from "./once-notice.ts";
import { parseAuditLine } from "./parse-audit-line.ts";
import { readTail } from "./read-tail.ts";

/** Where a log's hash chain ends: the next record gets `seq + 1` and `prev = hash`. */
export interface Tail {
  seq: number;
  hash: string;
  /** Identity and size of the active file the tail was read from, to trust it next batch. */
  ino: number;
  size: number;
}

/** The end of one log's chain, cached between batches of this process's writer. */
export interface ChainTail {
  /** The chain's end, read from disk unless no one else touched the active file since `remember`. Call under the log's lock. */
  read(): Promise<Tail>;
  /** The tail after a batch this writer wrote; `null` when the batch failed and the disk must be read again. */
  remember(tail: Tail | null): void;
}

/**
 * The chain tail of the log at `path`: the last whole record of the active file (or of the newest
 * rotated one), unless the head sidecar names a later record; a torn last line (a writer died
 * mid-write) is cut off, with a notice.
 */
export function chainTail(path: string, notice: Notice): ChainTail {
  let cached: Tail | null = null;
  return {
    async read() {
      if (cached !== null) {
        const known = cached;
        const now = await lstat(path).catch(() => null);
        if (now !== null && now.ino === known.ino && now.size === known.size) return known;
      }
      return readFromDisk(path, notice);
    },
    remember(tail) {
      cached = tail;
    },
  };
}

async function readFromDisk(path: string, notice: Notice): Promise<Tail> {
  const active = await readTail(path);
  if (active !== null && active.wholeBytes < active.size) {
    // A torn last line: a writer died mid-write. It was never a record; cut it so the chain
    // continues from the last whole one.
    const handle = await openNoFollow(path, "r+");
    await handle.truncate(active.wholeBytes).finally(() => handle.close());
    notice("torn", `cut a torn last line (${active.size - active.wholeBytes} bytes) from ${path}`);
  }
  let line = active?.lastLine ?? null;
  if (line === null) {
    const rotated = await listRotated(path);
    const newest = rotated[rotated.length - 1];
    if (newest !== undefined) line = (await readTail(newest.path))?.lastLine ?? null;
  }
  // A last line that is not a record (or past the readers' bounds) leaves the head to say where to go on.
  const last = line === null ? undefined : parseAuditLine(line, true, false, { verify: false }).record;
  const fromFile = last === undefined ? null : { seq: last.seq, hash: last.hash };
  // When files lost trailing records (or vanished), continue from the head so the gap stays
  // visible to verify instead of being papered over by a fresh chain.
  const head = await readHead(path).catch(() => null);
  const headTail = head !== null && head !== "malformed" ? head : null;
  const chain =
    headTail !== null && (fromFile === null || headTail.seq > fromFile.seq)
      ? headTail
      : (fromFile ?? { seq: 0, hash: GENESIS_HASH });
  return { ...chain, ino: active?.ino ?? -1, size: active?.wholeBytes ?? 0 };
}
