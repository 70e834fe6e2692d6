import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { expect } from "vitest";
import { listRotated } from "../../relay/audit/audit-files.ts";
import { isMissing } from "../../relay/state/fs-errors.ts";
import { AUDIT_SINK_ENV, AuditSinkError, describeLeaks, findLeaks, type SinkEntry } from "./audit-leaks.ts";

/**
 * The suite-wide audit sink (pino's test `sink()`, stretched over a whole run): every helper that
 * leaves an audit log behind hands it here before removing it. Each line must parse as JSON; the
 * lines and the secrets the test used are collected in the folder named by AUDIT_SINK_ENV (made
 * by test/global-setup.ts), whose teardown greps every collected line for every collected secret,
 * so a secret of one test found in another test's log fails the run too.
 */

/** Secrets by name (the name is what a report shows), or a plain list (named by position). */
export type SinkSecrets = readonly string[] | Readonly<Record<string, string>>;

// Shorter literals would match by accident somewhere in a suite's worth of JSON.
const MIN_SECRET_LENGTH = 8;
// A live log (an e2e server still running) may be read mid-append: wait for the line to end.
const TORN_RETRIES = 20;
const TORN_RETRY_MS = 50;

function namedSecrets(secrets: SinkSecrets, owner: string): SinkEntry["secrets"] {
  const pairs: [string, string][] = Array.isArray(secrets)
    ? (secrets as readonly string[]).map((value, i) => [`secret #${i + 1}`, value])
    : Object.entries(secrets as Readonly<Record<string, string>>);
  return pairs.map(([name, value]) => {
    if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) {
      throw new AuditSinkError(
        "AUDIT_SINK_BAD_SECRET",
        `secret ${name} must be a string of at least ${MIN_SECRET_LENGTH} characters`,
      );
    }
    return { name: `${name} of ${owner}`, value };
  });
}

/** The rotated files and the active file, oldest first; those that exist. */
async function filesOf(path: string): Promise<string[]> {
  const files = (await listRotated(path)).map((r) => r.path);
  try {
    await stat(path);
    files.push(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  return files;
}

/** The lines of one audit file; throws when one does not parse as JSON or the last is torn. */
async function jsonLines(file: string): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    const text = await readFile(file, "utf8");
    if (text !== "" && !text.endsWith("\n")) {
      if (attempt < TORN_RETRIES) {
        await new Promise((wake) => setTimeout(wake, TORN_RETRY_MS));
        continue;
      }
      throw new AuditSinkError("AUDIT_SINK_TORN_LINE", `${file} ends in a line without its newline`);
    }
    const lines = text === "" ? [] : text.slice(0, -1).split("\n");
    lines.forEach((line, index) => {
      try {
        JSON.parse(line);
      } catch {
        throw new AuditSinkError("AUDIT_SINK_NOT_JSON", `${file}:${index + 1} does not parse as JSON`);
      }
    });
    return lines;
  }
}

/**
 * Hand an audit log to the suite-wide sink: `paths` are audit files (their rotated `<path>.N`
 * files are taken too; pass a fallback file as one more path; a missing file is an empty log).
 * Throws AuditSinkError when a line does not parse as JSON (AUDIT_SINK_NOT_JSON,
 * AUDIT_SINK_TORN_LINE), or, once the lines and secrets are collected for the run's teardown
 * (test/global-setup.ts), when one of this test's `secrets` is in one of them (AUDIT_SINK_LEAK).
 *
 * Call it before removing the log, in cleanup. `options.dir` collects somewhere other than the
 * suite's folder: for the sink's own tests, which plant secrets on purpose.
 */
export async function sinkAudit(
  paths: string | readonly string[],
  secrets: SinkSecrets,
  options: { dir?: string } = {},
): Promise<void> {
  const dir = options.dir ?? process.env[AUDIT_SINK_ENV];
  if (!dir)
    throw new AuditSinkError(
      "AUDIT_SINK_UNSET",
      `${AUDIT_SINK_ENV} is not set: is test/global-setup.ts registered?`,
    );
  const state = expect.getState();
  const testFile = state.testPath ?? "unknown test file";
  const entry: SinkEntry = {
    testFile,
    testName: state.currentTestName ?? "",
    files: [],
    secrets: namedSecrets(secrets, testFile),
  };
  const seen = new Set<string>();
  for (const path of typeof paths === "string" ? [paths] : paths) {
    for (const file of await filesOf(resolve(path))) {
      if (seen.has(file)) continue;
      seen.add(file);
      entry.files.push({ path: file, lines: await jsonLines(file) });
    }
  }

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const name = `${Date.now()}-${process.pid}-${randomBytes(6).toString("hex")}`;
  // Temp + rename: the teardown never reads half an entry.
  await writeFile(join(dir, `${name}.tmp`), JSON.stringify(entry), { mode: 0o600 });
  await rename(join(dir, `${name}.tmp`), join(dir, `${name}.json`));

  const leaks = findLeaks([entry]);
  if (leaks.length > 0) throw new AuditSinkError("AUDIT_SINK_LEAK", describeLeaks(leaks));
}
