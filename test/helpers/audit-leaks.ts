import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";

/**
 * The suite-wide audit check, apart from the worker side (audit-sink.ts) so the global setup can
 * load it without vitest's test runtime: what one sink entry holds, and the grep over all of them.
 */

/** The env var naming the collection folder; set by test/global-setup.ts for the workers. */
export const AUDIT_SINK_ENV = "OCR_AUDIT_SINK_DIR";

/** One sinkAudit call, as collected on disk. */
export interface SinkEntry {
  /** The test file that made the log (absolute), when known. */
  testFile: string;
  testName: string;
  files: { path: string; lines: string[] }[];
  secrets: { name: string; value: string }[];
}

/** A secret found in a line. Holds the secret's name only, never its value. */
export interface Leak {
  testFile: string;
  file: string;
  /** 1-based line number in `file`. */
  line: number;
  secret: string;
}

export type AuditSinkCode =
  | "AUDIT_SINK_UNSET"
  | "AUDIT_SINK_BAD_SECRET"
  | "AUDIT_SINK_NOT_JSON"
  | "AUDIT_SINK_TORN_LINE"
  | "AUDIT_SINK_LEAK"
  | "AUDIT_SINK_EMPTY"
  | "AUDIT_SINK_NOT_FED";

/** A failed audit check; tests assert `code`. */
export class AuditSinkError extends Error {
  override name = "AuditSinkError";
  constructor(
    readonly code: AuditSinkCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/**
 * Every secret of every entry looked for in every line of every entry: a secret may leak into
 * another test's log as well as its own. Reports names and places, never values.
 */
export function findLeaks(entries: readonly SinkEntry[]): Leak[] {
  const secrets = new Map<string, string>();
  for (const entry of entries) for (const s of entry.secrets) secrets.set(s.value, s.name);
  const leaks: Leak[] = [];
  for (const entry of entries) {
    for (const file of entry.files) {
      file.lines.forEach((text, index) => {
        for (const [value, name] of secrets) {
          if (text.includes(value))
            leaks.push({ testFile: entry.testFile, file: file.path, line: index + 1, secret: name });
        }
      });
    }
  }
  return leaks;
}

/** One line per leak, for an error message. */
export function describeLeaks(leaks: readonly Leak[]): string {
  return leaks.map((l) => `${l.file}:${l.line} (from ${l.testFile}) contains ${l.secret}`).join("\n");
}

/** Every entry collected in `dir` (none when it does not exist). */
export async function readSinkEntries(dir: string): Promise<SinkEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const entries = names.filter((n) => n.endsWith(".json")).sort();
  return Promise.all(entries.map(async (n) => JSON.parse(await readFile(join(dir, n), "utf8")) as SinkEntry));
}

/**
 * The run's check over everything collected in `dir`: throws AuditSinkError AUDIT_SINK_LEAK when a
 * collected secret is in a collected line, AUDIT_SINK_EMPTY when no line was collected at all (the
 * check would pass vacuously), AUDIT_SINK_NOT_FED when one of `testFiles` (files that write audit
 * logs and ran) fed nothing. Resolves with what it checked.
 */
export async function checkAuditSink(
  dir: string,
  options: { testFiles?: readonly string[] } = {},
): Promise<{ entries: number; lines: number; secrets: number }> {
  const entries = await readSinkEntries(dir);
  const leaks = findLeaks(entries);
  if (leaks.length > 0)
    throw new AuditSinkError("AUDIT_SINK_LEAK", `secrets in audit lines:\n${describeLeaks(leaks)}`);
  const lines = entries.reduce((n, e) => n + e.files.reduce((m, f) => m + f.lines.length, 0), 0);
  if (lines === 0)
    throw new AuditSinkError(
      "AUDIT_SINK_EMPTY",
      `no audit line was collected in ${dir}: nothing was checked`,
    );
  const fed = new Set(entries.map((e) => resolve(e.testFile)));
  const silent = (options.testFiles ?? []).filter((f) => !fed.has(resolve(f)));
  if (silent.length > 0)
    throw new AuditSinkError(
      "AUDIT_SINK_NOT_FED",
      `these files write audit logs but never called sinkAudit:\n${silent.join("\n")}`,
    );
  const secrets = new Set(entries.flatMap((e) => e.secrets.map((s) => s.value))).size;
  return { entries: entries.length, lines, secrets };
}
