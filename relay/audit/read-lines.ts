import type { FileHandle } from "node:fs/promises";

/** One line of a JSONL file. */
export interface FileLine {
  text: string;
  /** 1-based line number in its file. */
  line: number;
  /** False for a last line with no newline: a torn or truncated write. */
  complete: boolean;
}

const CHUNK = 1 << 20; // 1 MiB reads: few syscalls, bounded memory whatever the file size
const NEWLINE = 0x0a;

/**
 * Stream the lines of `handle` from byte 0 up to `size` (a size taken earlier, so a writer
 * appending meanwhile cannot hand the reader half a line). Never holds more than one chunk plus
 * one line in memory.
 */
export async function* readLines(handle: FileHandle, size: number): AsyncGenerator<FileLine> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let carry: Buffer = Buffer.alloc(0);
  let position = 0;
  let line = 0;
  while (position < size) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - position), position);
    if (bytesRead === 0) break; // shrank since it was measured
    position += bytesRead;
    const chunk = buffer.subarray(0, bytesRead);
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      carry = Buffer.concat([carry, chunk]);
      continue;
    }
    // Decode whole lines only: 0x0a never occurs inside a multi-byte UTF-8 sequence.
    const text = Buffer.concat([carry, chunk.subarray(0, last)]).toString("utf8");
    carry = Buffer.from(chunk.subarray(last + 1));
    for (const piece of text.split("\n")) {
      line += 1;
      yield { text: piece, line, complete: true };
    }
  }
  if (carry.length > 0) yield { text: carry.toString("utf8"), line: line + 1, complete: false };
}
