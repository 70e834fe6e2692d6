import { type FileHandle, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { ERROR_CODES } from "../errors/index.ts";
import { ensurePrivateDir, openNoFollow } from "../state/index.ts";
import { listRotated, rotatedPath, writeHead } from "./audit-files.ts";
import { headMac, loadOrCreateAuditKey, recordMac } from "./audit-key.ts";
import { withAuditLock } from "./audit-lock.ts";
import type { AuditRecord } from "./audit-record.ts";
import { chainTail } from "./chain-tail.ts";
import { sealLine, sealRecord } from "./hash-record.ts";
import { errno, onceNotice } from "./once-notice.ts";
import { MAX_LINE_BYTES } from "./parse-audit-line.ts";
import { type FallbackCandidate, writeFallback } from "./write-fallback.ts";

/** A redacted, time-stamped record waiting for its seq and chain. */
export interface QueuedRecord {
  body: Omit<AuditRecord, "seq" | "prev" | "hash" | "mac">;
  maxBytes: number;
  fallbackPath: string | undefined;
}

/** The one queue of a log path in this process. */
export interface AuditWriter {
  /** Resolves when the record is written (to the log, the fallback or stderr); never rejects. */
  enqueue(record: QueuedRecord): Promise<void>;
  /** Resolves when everything enqueued so far is settled. */
  idle(): Promise<void>;
  /**
   * MAC every record from the next batch on with the key at `keyPath` (created on first use,
   * audit-key.ts). The first key path given for a log wins: one log, one key.
   */
  useKey(keyPath: string): void;
  /** The seq and hash of the last record this writer wrote, if any. */
  lastWritten(): { seq: number; hash: string } | undefined;
}

interface Pending extends FallbackCandidate {
  /** The enqueue call's generation; none for a record the writer adds itself. */
  generation: Generation | undefined;
}

/**
 * The records enqueued between two batches share one promise, instead of a promise (and its
 * resolver) each: it resolves once the last of them is written.
 */
interface Generation {
  promise: Promise<void>;
  resolve: () => void;
  open: number;
}

function settled(pending: Pending): void {
  const generation = pending.generation;
  if (generation !== undefined && --generation.open === 0) generation.resolve();
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
  /** The generation new records join; a new one starts once a batch is taken. */
  let generation: Generation | undefined;
  const notice = onceNotice();
  const tail = chainTail(path, notice);
  let keyPath: string | undefined;
  let folderChecked = false;
  let written: { seq: number; hash: string } | undefined;

  // Unreadable or uncreatable key: records go on unkeyed (verify with the key then names them).
  const loadKey = async (): Promise<Buffer | undefined> => {
    if (keyPath === undefined) return undefined;
    return loadOrCreateAuditKey(keyPath).catch((error: unknown) => {
      notice(
        `key:${errno(error)}`,
        `cannot use the audit key ${keyPath} (${errno(error)}): records are written without a MAC`,
      );
      return undefined;
    });
  };

  // The log's folder is made private once per writer; a folder tightened is said in the log itself.
  const checkFolder = async (batch: Pending[]) => {
    if (folderChecked) return;
    const folder = dirname(path);
    if ((await ensurePrivateDir(folder)) === "tightened") {
      const body = batch[0]?.body;
      batch.unshift({
        body: {
          v: body?.v ?? 2,
          ts: body?.ts ?? new Date().toISOString(),
          phase: "warning",
          code: "STATE_FOLDER_TIGHTENED",
          reason: `the audit folder ${folder} was writable by group or others; set to 0700`,
          hint: ERROR_CODES.STATE_FOLDER_TIGHTENED.hint,
          path: folder,
        },
        maxBytes: batch[0]?.maxBytes ?? Number.MAX_SAFE_INTEGER,
        fallbackPath: batch[0]?.fallbackPath,
        written: false,
        generation: undefined,
      });
    }
    folderChecked = true;
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
    await checkFolder(batch);
    const key = await loadKey();
    const mac = key === undefined ? undefined : (h: string) => recordMac(key, h);
    await withAuditLock(path, async () => {
      const start = await tail.read();
      let { seq, hash } = start;
      let handle = await openNoFollow(path, "a");
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
          const sealed = sealOrStub(pending.body, seq + 1, hash, mac);
          const bytes = Buffer.byteLength(sealed.line);
          if (size + groupBytes > 0 && size + groupBytes + bytes > pending.maxBytes) {
            await flushGroup();
            // Rotate: the chain simply continues in the new file.
            const next = ((await listRotated(path)).at(-1)?.index ?? 0) + 1;
            await handle.close();
            await rename(path, rotatedPath(path, next));
            handle = await openNoFollow(path, "a");
            size = 0;
          }
          group.push({ pending, line: sealed.line });
          groupBytes += bytes;
          seq += 1;
          hash = sealed.hash;
        }
        await flushGroup();
        tail.remember({ seq, hash, ino: (await handle.stat()).ino, size });
        if (seq > start.seq) written = { seq, hash };
      } catch (error) {
        tail.remember(null);
        throw error;
      } finally {
        await handle.close().catch(() => {});
      }
      const head = key === undefined ? { seq, hash } : { seq, hash, mac: headMac(key, seq, hash) };
      await writeHead(path, head).catch((error: unknown) => {
        notice(
          `head:${errno(error)}`,
          `cannot update ${path}.head (${errno(error)}): verify may report trailing records`,
        );
      });
    });
  };

  const drain = async () => {
    // Appends made in this turn of the event loop join the first batch, and its file work starts
    // after what the turn set off: a callback's request, which undici writes from an immediate on
    // a reused socket, goes out before its `accepted` record's disk work (BENCHMARKS.md, section 11).
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      generation = undefined;
      const batch = queue.splice(0, MAX_BATCH_RECORDS);
      try {
        await writeBatch(batch);
      } catch (error) {
        await writeFallback(path, batch, error, { notice, writerFor: auditWriterFor }).catch(() => {});
      }
      for (const p of batch) settled(p);
    }
    draining = false;
  };

  return {
    enqueue(record) {
      let joined = generation;
      if (joined === undefined) {
        let resolve = () => {};
        const promise = new Promise<void>((done) => {
          resolve = done;
        });
        joined = generation = { promise, resolve, open: 0 };
        last = promise;
      }
      joined.open += 1;
      const { body, maxBytes, fallbackPath } = record;
      queue.push({ body, maxBytes, fallbackPath, written: false, generation: joined });
      const promise = joined.promise;
      if (!draining) {
        draining = true;
        void drain();
      }
      return promise;
    },
    idle() {
      return last;
    },
    useKey(path) {
      keyPath ??= path;
    },
    lastWritten() {
      return written;
    },
  };
}

/**
 * Seal a record; one whose line would pass MAX_LINE_BYTES (which readers refuse) is replaced by a
 * stub that keeps its identity and says how big it was, so the chain stays readable end to end.
 */
function sealOrStub(
  body: QueuedRecord["body"],
  seq: number,
  prev: string,
  mac: ((hash: string) => string) | undefined,
): { hash: string; line: string } {
  const sealed = sealLine(body, seq, prev, mac);
  const bytes = Buffer.byteLength(sealed.line);
  if (bytes <= MAX_LINE_BYTES) return sealed;
  const { v, ts, phase, sessionId, runId, dedupeKey, idempotencyKey, code } = body;
  const ids = { sessionId, runId, dedupeKey, idempotencyKey, code };
  const kept = Object.fromEntries(
    Object.entries(ids).filter(([, value]) => typeof value === "string" && value.length < 4096),
  );
  const stub = sealRecord({ v, ts, phase, ...kept, seq, oversized: bytes }, prev, mac);
  return { hash: stub.record.hash, line: stub.line };
}
