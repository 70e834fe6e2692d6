import { verifyAudit } from "../../../relay/index.ts";
import type { CliIO } from "../cli-io.ts";
import type { AuditOptions } from "./audit.ts";
import { formatCount, tint } from "./audit-format.ts";

/**
 * `audit verify`: check the hash chain and the head. Prints ok with record and file counts (exit 0),
 * or the first problem with its file and line (exit 1).
 */
export async function auditVerify(options: AuditOptions, io: CliIO): Promise<number> {
  const result = await verifyAudit(options.path);
  if (options.json) {
    io.stdout(`${JSON.stringify(result)}\n`);
    return result.ok ? 0 : 1;
  }
  const files = `${result.files.length} file${result.files.length === 1 ? "" : "s"}`;
  if (result.ok) {
    io.stdout(
      `${tint(io.color, "green", "ok")}: ${formatCount(result.records)} records in ${files} (${options.path})\n`,
    );
    return 0;
  }
  const p = result.problem!;
  io.stdout(
    `${tint(io.color, "red", `${p.kind}`)}: ${p.file}:${p.line}: ${p.reason}\n` +
      `  ${formatCount(result.records)} records verified before it, in ${files}\n` +
      "  the log was changed after it was written (or a write was cut short): keep a copy as it is for review\n",
  );
  return 1;
}
