import { type FileHandle, open, stat } from "node:fs/promises";
import { type AuditRecord, listRotated } from "../../../relay/index.ts";
import type { CliIO } from "../cli-io.ts";
import { stopSignal } from "../stop-signal.ts";
import { runKeyOf } from "../summarize-runs.ts";
import type { AuditOptions } from "./audit.ts";
import { tint } from "./audit-format.ts";
import { timelineEntry } from "./audit-show.ts";

/** How often the log is looked at, ms: records show up within this of being written. @default 200 */
const POLL_MS = 200;

/**
 * `audit --follow`: print each record as it lands in the log, like `stripe listen` or `tail -F`,
 * until SIGINT/SIGTERM (or `options.signal`). Starts at the end of the log: what is already there
 * is `audit show`'s job. Follows rotation: the renamed file is read to its end, then every file
 * rotated after it, then the active one, so no record is skipped however fast the log rotates. With --json, stdout carries the records' JSON lines only.
 */
export async function auditFollow(options: AuditOptions, io: CliIO, signal?: AbortSignal): Promise<number> {
  const stopped = stopSignal(signal);
  let file = await openIfExists(options.path);
  let position = file === undefined ? 0 : (await file.handle.stat()).size;
  let carry = "";
  let lastRun: string | null | undefined;
  io.stderr(`following ${options.path} (Ctrl-C to stop)\n`);

  const print = (line: string) => {
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      return; // a line edited into invalid JSON: `audit verify` reports it
    }
    if (!matches(record, options)) return;
    if (options.json) {
      io.stdout(`${line}\n`);
      return;
    }
    const run = runKeyOf(record);
    if (run !== lastRun) {
      const target = typeof record.callbackSession === "string" ? ` → ${record.callbackSession}` : "";
      io.stdout(
        `${tint(io.color, "bold", `── run ${record.runId ?? "-"} (${record.sessionId ?? "-"})${target}`)}\n`,
      );
      lastRun = run;
    }
    io.stdout(timelineEntry(record, io.color));
  };

  try {
    while (!stopped.aborted) {
      if (file === undefined) {
        file = await openIfExists(options.path);
        position = 0;
      }
      if (file !== undefined) {
        const size = (await file.handle.stat()).size;
        if (size > position) {
          const chunk = Buffer.alloc(size - position);
          const { bytesRead } = await file.handle.read(chunk, 0, chunk.length, position);
          position += bytesRead;
          const lines = (carry + chunk.subarray(0, bytesRead).toString("utf8")).split("\n");
          carry = lines.pop() ?? "";
          for (const line of lines) if (line !== "") print(line);
        } else if ((await stat(options.path).catch(() => null))?.ino !== file.ino) {
          // Rotated: this file is drained. Several rotations may have happened since the last look,
          // so the next file is the one rotated after this one (by inode), else the active file.
          const next = await nextFile(options.path, file.ino);
          await file.handle.close();
          file = await openIfExists(next);
          position = 0;
          carry = "";
          continue;
        }
      }
      await sleep(POLL_MS, stopped);
    }
  } finally {
    await file?.handle.close();
  }
  return 0;
}

/** The file written after the one with inode `ino`: the next rotated file, else the active log. */
async function nextFile(path: string, ino: number): Promise<string> {
  const rotated = await listRotated(path).catch(() => []);
  for (let i = 0; i < rotated.length; i++) {
    if ((await stat(rotated[i]!.path).catch(() => null))?.ino === ino) return rotated[i + 1]?.path ?? path;
  }
  return path;
}

function matches(record: AuditRecord, options: AuditOptions): boolean {
  if (options.run !== undefined && record.runId !== options.run && record.dedupeKey !== options.run)
    return false;
  if (
    options.session !== undefined &&
    record.sessionId !== options.session &&
    record.callbackSession !== options.session
  )
    return false;
  return true;
}

async function openIfExists(path: string): Promise<{ handle: FileHandle; ino: number } | undefined> {
  try {
    const handle = await open(path, "r");
    return { handle, ino: (await handle.stat()).ino };
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
