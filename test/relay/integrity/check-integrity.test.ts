import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type { InstanceInfo } from "../../../relay/callback/terminal-run.ts";
import type { RelayConfig } from "../../../relay/config/config-schema.ts";
import { checkIntegrity, type IntegrityVerdict } from "../../../relay/integrity/check-integrity.ts";
import { buildTitle } from "../../../relay/title/build-title.ts";
import { ROUTING_TAG_KEYS, type TitleTags } from "../../../relay/title/title-tags.ts";

const instance: InstanceInfo = {
  projectId: "proj-1",
  worktree: "/home/x/repo",
  directory: "/home/x/repo/pkg",
};
const report: Pick<RelayConfig, "callbackSessionPrefixes" | "integrity"> = {
  callbackSessionPrefixes: ["agent:main:"],
  integrity: { onAgentMismatch: "report" },
};
const reject: typeof report = { ...report, integrity: { onAgentMismatch: "reject" } };
const base: TitleTags = {
  runId: "run-abc",
  taskId: "T-1",
  requested: "coder",
  resolved: "coder",
  callbackSession: "agent:main:main",
  projectId: "proj-1",
  repoRoot: "/home/x/repo",
};

function check(
  tags: TitleTags,
  opts: { current?: string; agentRan?: string; config?: typeof report; instance?: InstanceInfo } = {},
): IntegrityVerdict {
  const pinnedTitle = buildTitle("T-1 do it", tags);
  return checkIntegrity(
    {
      pinnedTitle,
      currentTitle: opts.current ?? pinnedTitle,
      ...(opts.agentRan === undefined ? {} : { agentRan: opts.agentRan }),
    },
    opts.instance ?? instance,
    opts.config ?? report,
  );
}

function codeOf(verdict: IntegrityVerdict): string | null {
  return verdict.ok ? null : verdict.error.code;
}

const tmpDirs: string[] = [];
afterEach(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("checkIntegrity", () => {
  it("accepts a well-tagged run and returns its routing tags", () => {
    const verdict = check(base, { agentRan: "coder" });
    expect(verdict).toMatchObject({ ok: true, fallbackUsed: false, actualAgent: "coder", tags: base });
    if (verdict.ok) expect(verdict.parsed.text).toBe("T-1 do it");
  });

  it("refuses a pinned title that does not parse with its TITLE_ code and no tags", () => {
    const verdict = checkIntegrity(
      { pinnedTitle: "runId=a runId=b callbackSession=agent:main:main", currentTitle: "x" },
      instance,
      report,
    );
    expect(verdict).toMatchObject({ ok: false, tags: {} });
    expect(codeOf(verdict)).toBe("TITLE_DUPLICATE_KEY");
    expect(codeOf(checkIntegrity({ pinnedTitle: "runId=r\nx", currentTitle: "" }, instance, report))).toBe(
      "TITLE_CONTROL_CHARACTER",
    );
  });

  it("refuses a title without a runId", () => {
    expect(codeOf(check({ callbackSession: "agent:main:main" }))).toBe("INTEGRITY_MISSING_RUN_ID");
    expect(codeOf(check({ runId: "", callbackSession: "agent:main:main" }))).toBe("INTEGRITY_MISSING_RUN_ID");
  });

  it("refuses a run without a callbackSession, keeping the parsed tags for the audit", () => {
    const verdict = check({ runId: "r1", taskId: "t" });
    expect(codeOf(verdict)).toBe("INTEGRITY_MISSING_CALLBACK_SESSION");
    expect(verdict.tags).toEqual({ runId: "r1", taskId: "t" });
    expect(codeOf(check({ runId: "r1", callbackSession: "" }))).toBe("INTEGRITY_MISSING_CALLBACK_SESSION");
  });

  it("refuses malformed callbackSession keys", () => {
    for (const bad of [
      "main",
      "agent:",
      ":main",
      "agent::main",
      "agent:main:ma in",
      "agent:main:x/y",
      "agent:mäin:x",
      `agent:main:${"a".repeat(246)}`,
    ]) {
      expect(codeOf(check({ ...base, callbackSession: bad }))).toBe("INTEGRITY_MALFORMED_CALLBACK_SESSION");
    }
    for (const good of [
      "agent:main:main",
      "agent:main:telegram:dm:123",
      "agent:main:mail:a.b+c@x-y_z",
      `agent:main:${"a".repeat(245)}`,
    ]) {
      expect(codeOf(check({ ...base, callbackSession: good }))).toBe(null);
    }
  });

  it("refuses a callbackSessionId that is not a plain identifier", () => {
    for (const bad of ["", "a b", "a/b", "x;y", "é", "a".repeat(257)]) {
      expect(codeOf(check({ ...base, callbackSessionId: bad }))).toBe(
        "INTEGRITY_MALFORMED_CALLBACK_SESSION_ID",
      );
    }
    expect(codeOf(check({ ...base, callbackSessionId: "ses_01J:abc-1.2" }))).toBe(null);
  });

  it("matches prefixes case-insensitively, like the gateway", () => {
    expect(codeOf(check({ ...base, callbackSession: "AGENT:Main:main" }))).toBe(null);
    expect(codeOf(check({ ...base, callbackSession: "hook:x" }))).toBe(
      "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED",
    );
    const config = { ...report, callbackSessionPrefixes: ["agent:main:", "HOOK:"] };
    expect(codeOf(check({ ...base, callbackSession: "hook:x" }, { config }))).toBe(null);
  });

  it("refuses any callbackSession outside the prefixes (property)", () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_.@+-]{1,12}$/);
    const key = fc.array(segment, { minLength: 2, maxLength: 5 }).map((parts) => parts.join(":"));
    fc.assert(
      fc.property(
        key,
        fc.array(fc.stringMatching(/^[A-Za-z0-9:]{1,10}$/), { minLength: 1, maxLength: 3 }),
        (session, prefixes) => {
          const verdict = check(
            { ...base, callbackSession: session },
            { config: { ...report, callbackSessionPrefixes: prefixes } },
          );
          const allowed = prefixes.some((p) => session.toLowerCase().startsWith(p.toLowerCase()));
          expect(codeOf(verdict)).toBe(allowed ? null : "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED");
        },
      ),
    );
  });

  it("refuses a run whose routing tags changed, naming both values", () => {
    const current = buildTitle("T-1 do it", { ...base, callbackSession: "agent:main:other" });
    const verdict = check(base, { current });
    expect(codeOf(verdict)).toBe("INTEGRITY_TAGS_CHANGED");
    if (!verdict.ok) {
      expect(verdict.error.details).toMatchObject({
        changed: ["callbackSession"],
        pinned: { callbackSession: "agent:main:main" },
        current: { callbackSession: "agent:main:other" },
      });
    }
  });

  it("allows free text and unknown tags to change mid-run", () => {
    const current = buildTitle("renamed by a person", base, [["note", "x"]]);
    expect(codeOf(check(base, { current }))).toBe(null);
  });

  it("refuses when the current title no longer parses or lost its tags", () => {
    expect(codeOf(check(base, { current: "runId=a runId=b" }))).toBe("INTEGRITY_TAGS_CHANGED");
    expect(codeOf(check(base, { current: "New session - 2026-11-21T05:00:00.000Z" }))).toBe(
      "INTEGRITY_TAGS_CHANGED",
    );
  });

  it("refuses a change to any routing tag (property)", () => {
    const value = fc.stringMatching(/^[a-z0-9:]{0,8}$/);
    fc.assert(
      fc.property(fc.constantFrom(...ROUTING_TAG_KEYS), fc.option(value, { nil: undefined }), (key, next) => {
        fc.pre(next !== base[key]);
        const changed: TitleTags = { ...base };
        if (next === undefined) delete changed[key];
        else changed[key] = next;
        const verdict = check(base, { current: buildTitle("T-1 do it", changed) });
        expect(codeOf(verdict)).toBe("INTEGRITY_TAGS_CHANGED");
      }),
    );
  });

  it("refuses a repoRoot that is neither the worktree nor the directory", () => {
    expect(codeOf(check({ ...base, repoRoot: "/home/x/repo/" }))).toBe(null);
    expect(codeOf(check({ ...base, repoRoot: "/home/x/repo/pkg" }))).toBe(null);
    expect(codeOf(check({ ...base, repoRoot: "/home/x/./repo" }))).toBe(null);
    expect(codeOf(check({ ...base, repoRoot: "/home/x/other" }))).toBe("INTEGRITY_REPO_ROOT_MISMATCH");
    expect(codeOf(check({ ...base, repoRoot: "repo" }))).toBe("INTEGRITY_REPO_ROOT_MISMATCH");
    const { repoRoot: _, ...noRoot } = base;
    expect(codeOf(check(noRoot))).toBe(null);
  });

  it("compares repoRoot only with the directory when the worktree is / (no git)", () => {
    const noGit: InstanceInfo = { projectId: "global", worktree: "/", directory: "/srv/work" };
    const tags = { ...base, projectId: "global" };
    expect(codeOf(check({ ...tags, repoRoot: "/" }, { instance: noGit }))).toBe(
      "INTEGRITY_REPO_ROOT_MISMATCH",
    );
    expect(codeOf(check({ ...tags, repoRoot: "/srv/work/" }, { instance: noGit }))).toBe(null);
  });

  it("accepts a symlinked spelling of the same directory", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "check-integrity-"));
    tmpDirs.push(dir);
    mkdirSync(path.join(dir, "real"));
    symlinkSync(path.join(dir, "real"), path.join(dir, "link"));
    const inst: InstanceInfo = {
      ...instance,
      worktree: path.join(dir, "real"),
      directory: path.join(dir, "real"),
    };
    expect(codeOf(check({ ...base, repoRoot: path.join(dir, "link") }, { instance: inst }))).toBe(null);
  });

  it("refuses a projectId of another project", () => {
    expect(codeOf(check({ ...base, projectId: "proj-2" }))).toBe("INTEGRITY_PROJECT_MISMATCH");
  });

  it("reports a fallback, and rejects it when the policy says so", () => {
    const fallback = check({ ...base, resolved: "build" });
    expect(fallback).toMatchObject({ ok: true, fallbackUsed: true });
    expect(codeOf(check({ ...base, resolved: "build" }, { config: reject }))).toBe(
      "INTEGRITY_AGENT_MISMATCH",
    );
    expect(check(base, { agentRan: "build" })).toMatchObject({
      ok: true,
      fallbackUsed: true,
      actualAgent: "build",
    });
    expect(codeOf(check(base, { agentRan: "build", config: reject }))).toBe("INTEGRITY_AGENT_MISMATCH");
    expect(codeOf(check(base, { agentRan: "coder", config: reject }))).toBe(null);
  });

  it("sets fallbackUsed iff the agents differ (property)", () => {
    const agent = fc.option(fc.constantFrom("coder", "build", "plan"), { nil: undefined });
    fc.assert(
      fc.property(agent, agent, agent, fc.boolean(), (requested, resolved, agentRan, rejecting) => {
        const tags: TitleTags = { runId: "r", callbackSession: "agent:main:main" };
        if (requested !== undefined) tags.requested = requested;
        if (resolved !== undefined) tags.resolved = resolved;
        const expected = resolved ?? requested;
        const differ =
          (requested !== undefined && resolved !== undefined && requested !== resolved) ||
          (agentRan !== undefined && expected !== undefined && agentRan !== expected);
        const verdict = check(tags, {
          ...(agentRan === undefined ? {} : { agentRan }),
          config: rejecting ? reject : report,
        });
        if (rejecting && differ) expect(codeOf(verdict)).toBe("INTEGRITY_AGENT_MISMATCH");
        else expect(verdict).toMatchObject({ ok: true, fallbackUsed: differ, actualAgent: agentRan ?? null });
      }),
    );
  });
});
