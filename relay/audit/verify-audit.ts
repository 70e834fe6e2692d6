import { headPath } from "./audit-files.ts";
import type { AuditRecord } from "./audit-record.ts";
import { openAuditSnapshot } from "./audit-snapshot.ts";
import { GENESIS_HASH, hashRecord, isAuditRecordShape } from "./hash-record.ts";
import { readLines } from "./read-lines.ts";

/** What went wrong first, and where. */
export interface VerifyProblem {
  file: string;
  /** 1-based line in `file`. */
  line: number;
  kind: "edited" | "removed" | "inserted" | "reordered" | "truncated" | "malformed";
  reason: string;
}

/** The outcome of `verifyAudit`. */
export interface VerifyResult {
  ok: boolean;
  /** Records checked before the first problem (all of them when ok). */
  records: number;
  /** Files of the log, oldest first. */
  files: string[];
  problem?: VerifyProblem;
}

interface Entry {
  file: string;
  line: number;
  record?: AuditRecord;
  bad?: "truncated" | "malformed" | "edited";
}

// How far ahead to look for the record that should have come next, to tell a reordered or
// inserted record from a removed one. Past it a problem is still found, only named less exactly.
const LOOKAHEAD = 256;

/**
 * Check the hash chain of the log at `path` across its rotated files, and the head sidecar for
 * whole trailing records removed. Streams the log; stops at the first problem. An empty or
 * missing log (with no head) is ok with 0 records.
 */
export async function verifyAudit(path: string): Promise<VerifyResult> {
  const snapshot = await openAuditSnapshot(path);
  const files = snapshot.files.map((f) => f.path);
  const linesIn = new Map<string, number>();
  try {
    const source = (async function* (): AsyncGenerator<Entry> {
      for (const file of snapshot.files) {
        linesIn.set(file.path, 0);
        for await (const { text, line, complete } of readLines(file.handle, file.size)) {
          linesIn.set(file.path, line);
          yield parseEntry(file.path, line, text, complete);
        }
      }
    })();
    const ahead: Entry[] = [];
    const next = async () => ahead.shift() ?? (await source.next()).value;
    const fill = async (n: number) => {
      while (ahead.length < n) {
        const r = await source.next();
        if (r.done) return;
        ahead.push(r.value);
      }
    };

    const result = (problem: VerifyProblem): VerifyResult => ({ ok: false, records, files, problem });
    let records = 0;
    let prev: { seq: number; hash: string; file: string; line: number } | null = null;
    // Recent good records by hash, to recognise a record linking back past the last one.
    const recent = new Map<string, { seq: number; file: string; line: number }>();
    const bySeq = new Map<number, { file: string; line: number }>();
    const head = snapshot.head;
    let atHead: { hash: string; file: string; line: number } | null = null;

    for (let e = await next(); e !== undefined; e = await next()) {
      const r = e.record;
      if (e.bad === "truncated")
        return result(at(e, "truncated", "the last line is cut short (a torn write?)"));
      if (e.bad === "malformed" || r === undefined)
        return result(at(e, "malformed", "not a JSON audit record"));
      if (e.bad === "edited") return result(at(e, "edited", `record seq ${r.seq} does not match its hash`));
      const prevHash = prev?.hash ?? GENESIS_HASH;
      const prevSeq = prev?.seq ?? 0;
      if (r.prev !== prevHash || r.seq !== prevSeq + 1) {
        const where = prev === null ? "at the start of the log" : `after seq ${prevSeq}`;
        // r links back past the last record, and the chain goes on from r: what came between
        // r's predecessor and r was inserted (even when it carried a valid link itself).
        const linked = r.hash === prevHash ? undefined : recent.get(r.prev);
        if (linked !== undefined && r.seq === linked.seq + 1 && linked.seq < prevSeq) {
          await fill(LOOKAHEAD);
          const continued =
            ahead.some((a) => a.record?.prev === r.hash) ||
            (ahead.length === 0 && head !== null && head !== "malformed" && head.hash === r.hash);
          const first = bySeq.get(linked.seq + 1);
          if (continued && first !== undefined) {
            return result(
              at(first, "inserted", `records up to line ${e.line} were inserted after seq ${linked.seq}`),
            );
          }
        }
        if (r.hash === prevHash || r.seq <= prevSeq) {
          return result(at(e, "inserted", `seq ${r.seq} repeats or goes back ${where}`));
        }
        await fill(LOOKAHEAD);
        const successor = ahead.find((a) => a.record?.prev === prevHash && a.bad === undefined);
        if (successor !== undefined) {
          const belongs = ahead.some((a) => a.record?.hash === r.prev || a.record?.prev === r.hash);
          return belongs
            ? result(
                at(
                  e,
                  "reordered",
                  `seq ${r.seq} stands before seq ${successor.record?.seq} (line ${successor.line})`,
                ),
              )
            : result(at(e, "inserted", `seq ${r.seq} is not part of the chain ${where}`));
        }
        if (r.seq > prevSeq + 1) {
          return result(at(e, "removed", `seq ${prevSeq + 1}..${r.seq - 1} missing ${where}`));
        }
        return prev === null
          ? result(at(e, "edited", "the first record does not start the chain"))
          : result(
              at(
                prev,
                "edited",
                `seq ${r.seq} (line ${e.line}) does not link to this record: one was edited`,
              ),
            );
      }
      records += 1;
      prev = { seq: r.seq, hash: r.hash, file: e.file, line: e.line };
      recent.set(r.hash, prev);
      bySeq.set(r.seq, prev);
      if (recent.size > LOOKAHEAD) {
        const [oldest] = recent.keys();
        if (oldest !== undefined) bySeq.delete(recent.get(oldest)?.seq ?? -1);
        if (oldest !== undefined) recent.delete(oldest);
      }
      if (head !== null && head !== "malformed" && r.seq === head.seq)
        atHead = { hash: r.hash, file: e.file, line: e.line };
    }

    // The chain is whole; now compare its end with the head sidecar.
    const lastFile = files.at(-1) ?? path;
    const end = { file: lastFile, line: (linesIn.get(lastFile) ?? 0) + 1 };
    if (head === "malformed")
      return result({
        file: headPath(path),
        line: 1,
        kind: "malformed",
        reason: "head file is not {seq, hash}",
      });
    if (head === null) {
      return records === 0
        ? { ok: true, records, files }
        : result({
            ...end,
            kind: "truncated",
            reason: `${headPath(path)} is missing: trailing records cannot be checked`,
          });
    }
    if (head.seq > (prev?.seq ?? 0)) {
      return result({
        ...end,
        kind: "truncated",
        reason: `the log ends at seq ${prev?.seq ?? 0} but the head says ${head.seq}`,
      });
    }
    // A head behind the end is a writer that stopped between appending and updating the head.
    if (atHead !== null && atHead.hash !== head.hash) {
      return result({ ...atHead, kind: "edited", reason: `seq ${head.seq} differs from the head's hash` });
    }
    return { ok: true, records, files };
  } finally {
    await snapshot.close();
  }
}

function parseEntry(file: string, line: number, text: string, complete: boolean): Entry {
  if (!complete) return { file, line, bad: "truncated" };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { file, line, bad: "malformed" };
  }
  if (!isAuditRecordShape(value)) return { file, line, bad: "malformed" };
  return hashRecord(value) === value.hash
    ? { file, line, record: value }
    : { file, line, record: value, bad: "edited" };
}

function at(
  where: { file: string; line: number },
  kind: VerifyProblem["kind"],
  reason: string,
): VerifyProblem {
  return { file: where.file, line: where.line, kind, reason };
}
