import type { FileHandle } from "node:fs/promises";
import { isMissing, openNoFollow } from "../state/index.ts";
import { MAX_LINE_BYTES } from "./parse-audit-line.ts";

/** The end of a log file as a writer needs it. */
export interface FileTail {
  /** The last complete line (without its newline), or null when the file holds none it could read. */
  lastLine: Buffer | null;
  /** Bytes up to and including the last newline: anything past it is a torn line. */
  wholeBytes: number;
  size: number;
  ino: number;
}

const BLOCK = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * Read the last complete line of `path` by reading backwards, so finding the chain's tail costs
 * one or two small reads however big the file is. Returns null when the file does not exist.
 * Never through a symbolic link (STATE_SYMLINK_REFUSED); a last line longer than any record
 * (MAX_LINE_BYTES) is not held in memory: `lastLine` is then null.
 */
export async function readTail(path: string): Promise<FileTail | null> {
  let handle: FileHandle;
  try {
    handle = await openNoFollow(path, "r");
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  try {
    const { size, ino } = await handle.stat();
    const lastNewline = await findNewlineBefore(handle, size, 0);
    if (lastNewline === -1) return { lastLine: null, wholeBytes: 0, size, ino };
    const wholeBytes = lastNewline + 1;
    const floor = Math.max(0, lastNewline - MAX_LINE_BYTES - 1);
    const before = await findNewlineBefore(handle, lastNewline, floor);
    if (before === -1 && floor > 0) return { lastLine: null, wholeBytes, size, ino };
    const line = Buffer.alloc(lastNewline - before - 1);
    await handle.read(line, 0, line.length, before + 1);
    return { lastLine: line, wholeBytes, size, ino };
  } finally {
    await handle.close();
  }
}

/** The offset of the last newline in [floor, end), or -1; reads backwards a block at a time. */
async function findNewlineBefore(handle: FileHandle, end: number, floor: number): Promise<number> {
  const block = Buffer.alloc(BLOCK);
  while (end > floor) {
    const start = Math.max(floor, end - BLOCK);
    const { bytesRead } = await handle.read(block, 0, end - start, start);
    const at = block.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (at !== -1) return start + at;
    end = start;
  }
  return -1;
}
