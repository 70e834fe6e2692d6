import { type AuditAnchor, readAuditKey, toRelayError, verifyAudit } from "../../../relay/index.ts";
import type { CliIO } from "../cli-io.ts";
import { UsageError } from "../usage-error.ts";
import type { AuditOptions } from "./audit.ts";
import { formatCount, tint } from "./audit-format.ts";

const ANCHOR = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/;

/**
 * `audit verify`: check the hash chain and the head, the MACs when the audit key is at hand
 * (`--key`, or audit.key in the configuration's stateDir), and every `--anchor SEQ:HASH`. Prints ok
 * with record and file counts and what was checked (exit 0), or the first problem with its code,
 * file and line (exit 1).
 */
export async function auditVerify(options: AuditOptions, io: CliIO): Promise<number> {
  const anchors = (options.anchors ?? []).map(parseAnchor);
  const key = await loadKey(options, io);
  if (key === "failed") return 1;
  const result = await verifyAudit(options.path, { ...(key === undefined ? {} : { key }), anchors });
  if (options.json) {
    io.stdout(`${JSON.stringify(result)}\n`);
    return result.ok ? 0 : 1;
  }
  const files = `${result.files.length} file${result.files.length === 1 ? "" : "s"}`;
  if (result.ok) {
    const proven = result.keyed
      ? "hash chain and MACs checked with the audit key"
      : "hash chain only (no audit key): an edit resealed by someone who can write the log would pass";
    const anchored = anchors.length === 0 ? "" : `; ${result.anchors} of ${anchors.length} anchors found`;
    const legacy = result.legacy === 0 ? "" : `; ${formatCount(result.legacy)} v1 records (before MACs)`;
    io.stdout(
      `${tint(io.color, "green", "ok")}: ${formatCount(result.records)} records in ${files} (${options.path})\n` +
        `  ${proven}${anchored}${legacy}\n`,
    );
    return 0;
  }
  const p = result.problem!;
  io.stdout(
    `${tint(io.color, "red", `${p.kind}`)}: ${p.file}:${p.line}: ${p.reason} (${p.code})\n` +
      `  ${formatCount(result.records)} records verified before it, in ${files}\n` +
      "  the log was changed after it was written (or a write was cut short): keep a copy as it is for review\n",
  );
  return 1;
}

function parseAnchor(text: string): AuditAnchor {
  const match = ANCHOR.exec(text);
  if (match?.[1] === undefined || match[2] === undefined)
    throw new UsageError(
      `--anchor ${JSON.stringify(text)}: expected SEQ:HASH (a record number, a colon, 64 hex digits)`,
    );
  return { seq: Number(match[1]), hash: match[2] };
}

/** The key, undefined to verify without one, or "failed" (said on stderr) when `--key` cannot be used. */
async function loadKey(options: AuditOptions, io: CliIO): Promise<Buffer | undefined | "failed"> {
  if (options.keyPath === undefined) return undefined;
  try {
    return await readAuditKey(options.keyPath);
  } catch (caught) {
    const error = toRelayError(caught);
    const missing = (error.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
    if (!options.keyRequired && missing) return undefined; // no key in the state dir: an unkeyed log
    io.stderr(
      `opencode-callback-relay audit verify: ${error.code}: ${error.message}\n  hint: ${error.hint}\n`,
    );
    return options.keyRequired ? "failed" : undefined;
  }
}
