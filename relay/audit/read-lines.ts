import type { FileHandle } from "node:fs/promises";

/** One line of a JSONL file. */
export interface FileLine {
  /** The line's exact bytes, without its newline; empty when `tooLong`. */
  bytes: Buffer;
  /** 1-based line number in its file. */
  line: number;
  /** False for a last line with no newline: a torn or truncated write. */
  complete: boolean;
  /** The line is longer than `maxLineBytes`: its bytes were skipped, not held. */
  tooLong: boolean;
}

const CHUNK = 1 << 20; // 1 MiB reads: few syscalls, bounded memory whatever the file size
const NEWLINE = 0x0a;

/**
 * Stream the lines of `handle` from byte 0 up to `size` (a size taken earlier, so a writer
 * appending meanwhile cannot hand the reader half a line). Never holds more than one chunk plus
 * `maxLineBytes` in memory: a longer line is reported `tooLong` and skipped to its newline.
 */
export async function* readLines(
  handle: FileHandle,
  size: number,
  maxLineBytes: number,
): AsyncGenerator<FileLine> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let carry: Buffer[] = [];
  let carried = 0;
  let skipping = false; // inside a line already known to be too long
  let position = 0;
  let line = 0;
  while (position < size) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - position), position);
    if (bytesRead === 0) break; // shrank since it was measured
    position += bytesRead;
    const chunk = buffer.subarray(0, bytesRead);
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE, start); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      line += 1;
      const piece = chunk.subarray(start, end);
      if (skipping || carried + piece.length > maxLineBytes) {
        yield { bytes: Buffer.alloc(0), line, complete: true, tooLong: true };
      } else {
        const bytes = carried === 0 ? Buffer.from(piece) : Buffer.concat([...carry, piece]);
        yield { bytes, line, complete: true, tooLong: false };
      }
      carry = [];
      carried = 0;
      skipping = false;
      start = end + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0 || skipping) continue;
    if (carried + rest.length > maxLineBytes) {
      carry = [];
      carried = 0;
      skipping = true;
    } else {
      carry.push(Buffer.from(rest));
      carried += rest.length;
    }
  }
  if (skipping) yield { bytes: Buffer.alloc(0), line: line + 1, complete: false, tooLong: true };
  else if (carried > 0)
    yield { bytes: Buffer.concat(carry), line: line + 1, complete: false, tooLong: false };
}
