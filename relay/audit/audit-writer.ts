import { type FileHandle, mkdir, open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { listRotated, rotatedPath, writeHead } from "./audit-files.ts";
import { withAuditLock } from "./audit-lock.ts";
import type { AuditRecord } from "./audit-record.ts";
import { chainTail } from "./chain-tail.ts";
import { sealRecord } from "./hash-record.ts";
import { errno, onceNotice } from "./once-notice.ts";
import { type FallbackCandidate, writeFallback } from "./write-fallback.ts";

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

interface Pending extends FallbackCandidate {
  done: () => void;
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
  const notice = onceNotice();
  const tail = chainTail(path, notice);

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
      const start = await tail.read();
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
        tail.remember({ seq, hash, ino: (await handle.stat()).ino, size });
      } catch (error) {
        tail.remember(null);
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

  const drain = async () => {
    await null; // let appends made in the same tick join the first batch
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_BATCH_RECORDS);
      try {
        await writeBatch(batch);
      } catch (error) {
        await writeFallback(path, batch, error, { notice, writerFor: auditWriterFor }).catch(() => {});
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
