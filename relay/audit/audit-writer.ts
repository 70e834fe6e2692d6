import { type FileHandle, mkdir, open, rename, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { listRotated, readHead, rotatedPath, writeHead } from "./audit-files.ts";
import { withAuditLock } from "./audit-lock.ts";
import type { AuditRecord } from "./audit-record.ts";
import { GENESIS_HASH, isAuditRecordShape, sealRecord } from "./hash-record.ts";
import { readTail } from "./read-tail.ts";

/** A redacted, time-stamped record waiting for its seq and chain. */
export interface QueuedRecord {
  body: Omit<AuditRecord, "seq" | "prev" | "hash">;
  maxBytes: number;
  fallbackPath: string | undefined;
}

/** The one queue of a log path in this process. */
export interface AuditWriter {
  /** Resolves when the record is written (to the log, the fallback or stderr); never rejects. */
  enqueue(record: QueuedRecord): Promise<void>;
  /** Resolves when everything enqueued so far is settled. */
  idle(): Promise<void>;
}

interface Pending extends QueuedRecord {
  done: () => void;
  written: boolean;
}

interface Tail {
  seq: number;
  hash: string;
  /** Identity and size of the active file the tail was read from, to trust it next batch. */
  ino: number;
  size: number;
}

// Bounds the memory and the size of the one write(2) per file per batch.
const MAX_BATCH_RECORDS = 2_000;
// Shared through globalThis so two copies of this module in one process (a plugin bundle loaded
// twice) still keep one queue per path and do not fight over the lock.
const REGISTRY = Symbol.for("opencode-callback-relay.audit-writers");

/** The process-wide writer for the (absolute) `path`. */
export function auditWriterFor(path: string): AuditWriter {
  const holder = globalThis as { [REGISTRY]?: Map<string, AuditWriter> };
  holder[REGISTRY] ??= new Map();
  const registry = holder[REGISTRY];
  let writer = registry.get(path);
  if (writer === undefined) {
    writer = createWriter(path);
    registry.set(path, writer);
  }
  return writer;
}

function createWriter(path: string): AuditWriter {
  const queue: Pending[] = [];
  let draining = false;
  let last: Promise<void> = Promise.resolve();
  let tail: Tail | null = null;
  const noticed = new Set<string>();

  const notice = (kind: string, text: string) => {
    if (noticed.has(kind)) return;
    noticed.add(kind);
    process.stderr.write(`opencode-callback-relay: ${text}\n`);
  };

  /** The chain's end, trusting the cache only if no one else touched the active file. */
  const readChainTail = async (): Promise<Tail> => {
    if (tail !== null) {
      const cached = tail;
      const now = await stat(path).catch(() => null);
      if (now !== null && now.ino === cached.ino && now.size === cached.size) return cached;
    }
    const active = await readTail(path);
    if (active !== null && active.wholeBytes < active.size) {
      // A torn last line: a writer died mid-write. It was never a record; cut it so the chain
      // continues from the last whole one.
      const handle = await open(path, "r+");
      await handle.truncate(active.wholeBytes).finally(() => handle.close());
      notice("torn", `cut a torn last line (${active.size - active.wholeBytes} bytes) from ${path}`);
    }
    let line = active?.lastLine ?? null;
    if (line === null) {
      const rotated = await listRotated(path);
      const newest = rotated[rotated.length - 1];
      if (newest !== undefined) line = (await readTail(newest.path))?.lastLine ?? null;
    }
    let fromFile: { seq: number; hash: string } | null = null;
    if (line !== null) {
      try {
        const parsed: unknown = JSON.parse(line);
        if (isAuditRecordShape(parsed)) fromFile = { seq: parsed.seq, hash: parsed.hash };
      } catch {
        // fall back on the head below
      }
    }
    // When files lost trailing records (or vanished), continue from the head so the gap stays
    // visible to verify instead of being papered over by a fresh chain.
    const head = await readHead(path).catch(() => null);
    const headTail = head !== null && head !== "malformed" ? head : null;
    const chain =
      headTail !== null && (fromFile === null || headTail.seq > fromFile.seq)
        ? headTail
        : (fromFile ?? { seq: 0, hash: GENESIS_HASH });
    return { ...chain, ino: active?.ino ?? -1, size: active?.wholeBytes ?? 0 };
  };

  const appendBytes = async (handle: FileHandle, bytes: Buffer, before: number) => {
    try {
      let offset = 0;
      // One write(2) for the whole group; only a full disk or a signal makes it short.
      while (offset < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
        offset += bytesWritten;
      }
    } catch (error) {
      // Leave no torn line behind: the group goes to the fallback whole instead.
      await handle.truncate(before).catch(() => {});
      throw error;
    }
  };

  const writeBatch = async (batch: Pending[]) => {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await withAuditLock(path, async () => {
      const start = await readChainTail();
      let { seq, hash } = start;
      let handle = await open(path, "a", 0o600);
      try {
        let size = (await handle.stat()).size;
        let group: { pending: Pending; line: string }[] = [];
        let groupBytes = 0;
        const flushGroup = async () => {
          if (group.length === 0) return;
          await appendBytes(handle, Buffer.from(group.map((g) => g.line).join("")), size);
          size += groupBytes;
          for (const g of group) g.pending.written = true;
          group = [];
          groupBytes = 0;
        };
        for (const pending of batch) {
          const sealed = sealRecord({ ...pending.body, seq: seq + 1 }, hash);
          const bytes = Buffer.byteLength(sealed.line);
          if (size + groupBytes > 0 && size + groupBytes + bytes > pending.maxBytes) {
            await flushGroup();
            // Rotate: the chain simply continues in the new file.
            const next = ((await listRotated(path)).at(-1)?.index ?? 0) + 1;
            await handle.close();
            await rename(path, rotatedPath(path, next));
            handle = await open(path, "a", 0o600);
            size = 0;
          }
          group.push({ pending, line: sealed.line });
          groupBytes += bytes;
          seq += 1;
          hash = sealed.record.hash;
        }
        await flushGroup();
        tail = { seq, hash, ino: (await handle.stat()).ino, size };
      } catch (error) {
        tail = null;
        throw error;
      } finally {
        await handle.close().catch(() => {});
      }
      await writeHead(path, { seq, hash }).catch((error: unknown) => {
        notice(
          `head:${errno(error)}`,
          `cannot update ${path}.head (${errno(error)}): verify may report trailing records`,
        );
      });
    });
  };

  const fallback = async (batch: Pending[], error: unknown) => {
    const code = errno(error);
    const target = batch[0]?.fallbackPath;
    notice(
      `unwritable:${code}`,
      `AUDIT_UNWRITABLE: cannot write the audit log ${path} (${code}: ${(error as Error)?.message ?? error}); records go to ${target ?? "stderr"}`,
    );
    const byTarget = new Map<string | undefined, Pending[]>();
    for (const p of batch) {
      if (p.written) continue;
      const list = byTarget.get(p.fallbackPath) ?? [];
      list.push(p);
      byTarget.set(p.fallbackPath, list);
    }
    for (const [fallbackPath, list] of byTarget) {
      if (fallbackPath !== undefined && fallbackPath !== path) {
        // The fallback is a log of its own (chained, verifiable), with nowhere further to go.
        const writer = auditWriterFor(fallbackPath);
        await Promise.all(
          list.map((p) =>
            writer.enqueue({
              body: { ...p.body, fallbackFor: path, fallbackCode: code },
              maxBytes: p.maxBytes,
              fallbackPath: undefined,
            }),
          ),
        );
      } else {
        process.stderr.write(
          list.map((p) => `${JSON.stringify({ ...p.body, fallbackFor: path })}\n`).join(""),
        );
      }
    }
  };

  const drain = async () => {
    await null; // let appends made in the same tick join the first batch
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_BATCH_RECORDS);
      try {
        await writeBatch(batch);
      } catch (error) {
        await fallback(batch, error).catch(() => {});
      }
      for (const p of batch) p.done();
    }
    draining = false;
  };

  return {
    enqueue(record) {
      const promise = new Promise<void>((done) => {
        queue.push({ ...record, done, written: false });
      });
      last = promise;
      if (!draining) {
        draining = true;
        void drain();
      }
      return promise;
    },
    idle() {
      return last;
    },
  };
}

function errno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" ? code : "EUNKNOWN";
}
