import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { AUDIT_SINK_ENV, checkAuditSink } from "./helpers/audit-leaks.ts";

/**
 * Suite-wide audit check (DESIGN.md "Audit log": secrets never appear in it). Setup makes the
 * folder test/helpers/audit-sink.ts collects into and names it in AUDIT_SINK_ENV, which the
 * workers inherit; teardown greps every collected audit line for every collected secret and
 * fails the run on a leak, on nothing collected, or on a file that writes audit logs but fed
 * nothing. Both projects register this file: the first setup makes the folder, the last
 * teardown checks and removes it, so a run of both projects is checked as one.
 */

// Shared by both projects' setups (one process; each project may load this module anew).
const STATE = Symbol.for("opencode-callback-relay.audit-sink");
type SinkState = { dir: string; owned: boolean; users: number };
const registry = globalThis as { [STATE]?: SinkState };

// A test file that calls one of these writes an audit log and must feed the sink.
const WRITES_AUDIT = /\b(?:sinkAudit|relayFixture|startWorld|startSharedDataWorld)\(/;

/** Test files of the run that passed and write audit logs; undefined when vitest cannot say. */
async function auditWriters(project: TestProject): Promise<string[] | undefined> {
  let modules: { moduleId: string; state(): string }[];
  try {
    modules = project.vitest.state.getTestModules();
  } catch {
    return undefined; // experimental API gone: fall back to "something was collected"
  }
  const writers: string[] = [];
  for (const module of modules) {
    if (module.state() !== "passed") continue;
    const source = await readFile(module.moduleId, "utf8").catch(() => "");
    if (WRITES_AUDIT.test(source)) writers.push(module.moduleId);
  }
  return writers;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let state = registry[STATE];
  if (state === undefined) {
    const inherited = process.env[AUDIT_SINK_ENV];
    state = inherited
      ? { dir: inherited, owned: false, users: 0 }
      : { dir: await mkdtemp(join(tmpdir(), "ocr-audit-sink-")), owned: true, users: 0 };
    registry[STATE] = state;
    process.env[AUDIT_SINK_ENV] = state.dir;
  }
  state.users += 1;
  const shared = state;

  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return; // the other project's teardown checks both
    delete registry[STATE];
    try {
      const writers = await auditWriters(project);
      // No file of this run writes an audit log (one unrelated file run alone): nothing to check.
      if (writers?.length === 0) return;
      await checkAuditSink(shared.dir, writers === undefined ? {} : { testFiles: writers });
    } catch (error) {
      // vitest only logs an error thrown from a global teardown; the exit code must say it too.
      process.exitCode = 1;
      throw error;
    } finally {
      if (shared.owned) {
        await rm(shared.dir, { recursive: true, force: true });
        delete process.env[AUDIT_SINK_ENV];
      }
    }
  };
}
