import { open } from "node:fs/promises";
import { isMissing } from "../state/index.ts";

/** The end of a log file as a writer needs it. */
export interface FileTail {
  /** The last complete line (without its newline), or null when the file holds none. */
  lastLine: string | null;
  /** Bytes up to and including the last newline: anything past it is a torn line. */
  wholeBytes: number;
  size: number;
  ino: number;
}

const BLOCK = 64 * 1024;

/**
 * Read the last complete line of `path` by reading backwards, so finding the chain's tail costs
 * one or two small reads however big the file is. Returns null when the file does not exist.
 */
export async function readTail(path: string): Promise<FileTail | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  try {
    const { size, ino } = await handle.stat();
    let end = size;
    let wholeBytes = -1;
    let tail = Buffer.alloc(0);
    // Walk back until the region holds the newline that ends the last complete line and the
    // newline (or file start) before it.
    while (end > 0) {
      const start = Math.max(0, end - BLOCK);
      const block = Buffer.alloc(end - start);
      await handle.read(block, 0, block.length, start);
      tail = Buffer.concat([block, tail]);
      end = start;
      if (wholeBytes === -1) {
        const lastNewline = tail.lastIndexOf(0x0a);
        if (lastNewline === -1) continue;
        wholeBytes = end + lastNewline + 1;
      }
      const lineEnd = wholeBytes - end - 1; // index of the newline ending the last line
      const before = lineEnd > 0 ? tail.lastIndexOf(0x0a, lineEnd - 1) : -1;
      if (before !== -1 || end === 0) {
        return { lastLine: tail.subarray(before + 1, lineEnd).toString("utf8"), wholeBytes, size, ino };
      }
    }
    return { lastLine: null, wholeBytes: Math.max(wholeBytes, 0), size, ino };
  } finally {
    await handle.close();
  }
}
