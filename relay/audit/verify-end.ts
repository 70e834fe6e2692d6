import type { ErrorCode } from "../errors/index.ts";
import { type AuditHead, headPath } from "./audit-files.ts";
import { headMac } from "./audit-key.ts";
import type { VerifyProblem } from "./verify-audit.ts";

/** A record known from outside the log: its `seq` and `hash` (`SEQ:HASH` on the command line). */
export interface AuditAnchor {
  seq: number;
  hash: string;
}

/** What the chain walk found, for the checks at its end. */
export interface ChainEnd {
  path: string;
  head: AuditHead | null | "malformed";
  key: Buffer | undefined;
  /** Where a missing record would have been: one line past the last line of the last file. */
  end: { file: string; line: number };
  last: { seq: number; hash: string } | null;
  /** The record whose seq is the head's, when the log reaches that far. */
  atHead: { hash: string; file: string; line: number } | null;
  /** Records that must carry a MAC under the key (v2 ones). */
  keyedRecords: number;
  firstSeq: number | undefined;
  /** Anchors whose seq the walk never reached. */
  unseenAnchors: readonly AuditAnchor[];
}

/**
 * The checks that can only be made once the whole chain has been walked: anchors past either end
 * of the log, the head sidecar (present, well formed, not ahead of the log, naming the record at
 * its seq, and MACed under the key). Returns the first problem, or undefined.
 */
export function checkEnd(c: ChainEnd): VerifyProblem | undefined {
  const lastSeq = c.last?.seq ?? 0;
  const headFile = { file: headPath(c.path), line: 1 };
  for (const anchor of c.unseenAnchors) {
    const before = c.firstSeq !== undefined && anchor.seq < c.firstSeq;
    return problem(
      before ? { file: c.end.file, line: 1 } : c.end,
      "anchor",
      before
        ? `the anchor's seq ${anchor.seq} is before the log's first record (seq ${c.firstSeq}): records were removed`
        : `the log ends at seq ${lastSeq} but an anchor names seq ${anchor.seq}: trailing records were removed`,
      "AUDIT_ANCHOR_MISMATCH",
    );
  }
  if (c.head === "malformed") return problem(headFile, "malformed", "head file is not {seq, hash}");
  if (c.head === null) {
    return lastSeq === 0 && c.last === null
      ? undefined
      : problem(c.end, "truncated", `${headPath(c.path)} is missing: trailing records cannot be checked`);
  }
  if (c.head.seq > lastSeq)
    return problem(c.end, "truncated", `the log ends at seq ${lastSeq} but the head says ${c.head.seq}`);
  // A head behind the end is a writer that stopped between appending and updating the head.
  if (c.atHead !== null && c.atHead.hash !== c.head.hash)
    return problem(c.atHead, "edited", `seq ${c.head.seq} differs from the head's hash`);
  if (c.key !== undefined && c.keyedRecords > 0 && c.head.mac !== headMac(c.key, c.head.seq, c.head.hash))
    return problem(
      headFile,
      "forged",
      `the head ${c.head.mac === undefined ? "has no" : "has a wrong"} MAC`,
      "AUDIT_MAC_INVALID",
    );
  return undefined;
}

/** A VerifyProblem at a file and line; the code defaults to AUDIT_CHAIN_BROKEN. */
export function problem(
  where: { file: string; line: number },
  kind: VerifyProblem["kind"],
  reason: string,
  code: ErrorCode = "AUDIT_CHAIN_BROKEN",
): VerifyProblem {
  return { file: where.file, line: where.line, kind, code, reason };
}
