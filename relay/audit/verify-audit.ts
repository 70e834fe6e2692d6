import type { ErrorCode } from "../errors/index.ts";
import { recordMac } from "./audit-key.ts";
import type { AuditRecord } from "./audit-record.ts";
import { openAuditSnapshot } from "./audit-snapshot.ts";
import { GENESIS_HASH } from "./hash-record.ts";
import { type LineFault, MAX_LINE_BYTES, parseAuditLine } from "./parse-audit-line.ts";
import { readLines } from "./read-lines.ts";
import { type AuditAnchor, problem as at, checkEnd } from "./verify-end.ts";

/** What went wrong first, and where. */
export interface VerifyProblem {
  file: string;
  /** 1-based line in `file`. */
  line: number;
  /** `forged`: a MAC is missing or wrong (only with a key); `anchor`: an anchor is contradicted. */
  kind: "edited" | "removed" | "inserted" | "reordered" | "truncated" | "malformed" | "forged" | "anchor";
  /** A stable code (README "Error codes"): AUDIT_CHAIN_BROKEN, AUDIT_LINE_NOT_CANONICAL, … */
  code: ErrorCode;
  reason: string;
}

/** Options of `verifyAudit`. */
export interface VerifyOptions {
  /**
   * The log's key (audit-key.ts `readAuditKey`): every v2 record and the head must then carry a
   * valid MAC. @default none: the chain is checked, MACs are not
   */
  key?: Buffer;
  /** `seq` + `hash` pairs known from outside the log (callbacks a receiver got): each must be in it. */
  anchors?: readonly AuditAnchor[];
}

/** The outcome of `verifyAudit`. */
export interface VerifyResult {
  ok: boolean;
  /** Records checked before the first problem (all of them when ok). */
  records: number;
  /** Files of the log, oldest first. */
  files: string[];
  /** Whether MACs were checked (a key was given). */
  keyed: boolean;
  /** v1 records (hashed over the parsed record, before the exact-bytes rule): never MACed. */
  legacy: number;
  /** Anchors found in the log with their hash. */
  anchors: number;
  problem?: VerifyProblem;
}

interface Entry {
  file: string;
  line: number;
  record?: AuditRecord;
  fault?: LineFault;
}

// How far ahead to look for the record that should have come next, to tell a reordered or
// inserted record from a removed one. Past it a problem is still found, only named less exactly.
const LOOKAHEAD = 256;

/**
 * Check the hash chain of the log at `path` across its rotated files (each line's exact bytes,
 * hash-record.ts), the head sidecar for whole trailing records removed, and, when given, the MACs
 * under `options.key` and the `options.anchors`. Streams the log; stops at the first problem. An
 * empty or missing log (with no head) is ok with 0 records, unless an anchor names a record.
 */
export async function verifyAudit(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { key } = options;
  const anchors = new Map((options.anchors ?? []).map((a) => [a.seq, a.hash]));
  const unseen = new Map(anchors);
  let anchorsSeen = 0;
  let legacy = 0;
  let firstSeq: number | undefined;
  const snapshot = await openAuditSnapshot(path);
  const files = snapshot.files.map((f) => f.path);
  const [link] = snapshot.refused;
  if (link !== undefined) {
    await snapshot.close();
    const problem = at(
      { file: link, line: 1 },
      "malformed",
      "a symbolic link, not followed",
      "STATE_SYMLINK_REFUSED",
    );
    return { ok: false, records: 0, files, keyed: key !== undefined, legacy: 0, anchors: 0, problem };
  }
  const linesIn = new Map<string, number>();
  try {
    const source = (async function* (): AsyncGenerator<Entry> {
      for (const file of snapshot.files) {
        linesIn.set(file.path, 0);
        for await (const { bytes, line, complete, tooLong } of readLines(
          file.handle,
          file.size,
          MAX_LINE_BYTES,
        )) {
          linesIn.set(file.path, line);
          yield { file: file.path, line, ...parseAuditLine(bytes, complete, tooLong) };
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

    const summary = () => ({ records, files, keyed: key !== undefined, legacy, anchors: anchorsSeen });
    const result = (problem: VerifyProblem): VerifyResult => ({ ok: false, ...summary(), problem });
    let records = 0;
    let prev: { seq: number; hash: string; file: string; line: number } | null = null;
    // Recent good records by hash, to recognise a record linking back past the last one.
    const recent = new Map<string, { seq: number; file: string; line: number }>();
    const bySeq = new Map<number, { file: string; line: number }>();
    const head = snapshot.head;
    let atHead: { hash: string; file: string; line: number } | null = null;

    for (let e = await next(); e !== undefined; e = await next()) {
      const r = e.record;
      if (e.fault !== undefined) return result(at(e, e.fault.kind, e.fault.reason, e.fault.code));
      if (r === undefined) return result(at(e, "malformed", "not a JSON audit record"));
      // v1 is the old rule, recomputable by anyone: only a log's beginning may be v1.
      if (r.v === 1 && records > legacy)
        return result(at(e, "edited", `record seq ${r.seq} is v1 after v2 records (a downgrade)`));
      if (key !== undefined && r.v !== 1 && r.mac !== recordMac(key, r.hash))
        return result(
          at(
            e,
            "forged",
            `record seq ${r.seq} ${r.mac === undefined ? "has no" : "has a wrong"} MAC`,
            "AUDIT_MAC_INVALID",
          ),
        );
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
        const successor = ahead.find((a) => a.record?.prev === prevHash && a.fault === undefined);
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
      const anchored = anchors.get(r.seq);
      if (anchored !== undefined && anchored !== r.hash)
        return result(
          at(e, "anchor", `seq ${r.seq} is not the record the anchor names`, "AUDIT_ANCHOR_MISMATCH"),
        );
      if (anchored !== undefined && unseen.delete(r.seq)) anchorsSeen += 1;
      firstSeq ??= r.seq;
      if (r.v === 1) legacy += 1;
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

    // The chain is whole; now compare its end with the head sidecar and the anchors.
    const lastFile = files.at(-1) ?? path;
    const problem = checkEnd({
      path,
      head,
      key,
      end: { file: lastFile, line: (linesIn.get(lastFile) ?? 0) + 1 },
      last: prev,
      atHead,
      keyedRecords: records - legacy,
      firstSeq,
      unseenAnchors: [...unseen].map(([seq, hash]) => ({ seq, hash })),
    });
    return problem === undefined ? { ok: true, ...summary() } : result(problem);
  } finally {
    await snapshot.close();
  }
}
