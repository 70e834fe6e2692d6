import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseTitle } from "../../relay/index.ts";
import { main } from "../../scripts/cli/cli.ts";
import { type CapturedIO, captureIO } from "../helpers/capture-io.ts";

let tmp: string;
let io: CapturedIO;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-title-"));
  // An empty XDG config home: no configuration, so the defaults apply unless a test writes one.
  io = captureIO(tmp, { HOME: tmp, XDG_CONFIG_HOME: path.join(tmp, "xdg") });
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Run `title …` with --json and return the exit code and the one JSON document printed. */
async function titleJson(...args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const own = captureIO(io.cwd, io.env);
  const code = await main(["title", ...args, "--json"], own);
  // JSON modes print only JSON: one document on stdout, nothing on stderr.
  expect(own.err()).toBe("");
  return { code, json: JSON.parse(own.out()) };
}

describe("title", () => {
  it("prints a title the relay reads back to exactly the values given, however awkward", async () => {
    const code = await main(
      [
        "title",
        ...["--run-id", "run 42 100%", "--task-id", "T=7", "--requested", "build", "--resolved", "build"],
        ...["--callback-session", "agent:main:main", "--callback-session-id", "s-1", "--project-id", "p1"],
        ...["--repo-root", "my proj", "--text", "Fix  login runId=evil", "--tag", "note=héllo wörld"],
      ],
      io,
    );
    expect(code).toBe(0);
    const printed = io.out();
    expect(printed.endsWith("\n")).toBe(true);
    expect(parseTitle(printed.trimEnd())).toEqual({
      text: "Fix login runId=evil",
      tags: {
        runId: "run 42 100%",
        taskId: "T=7",
        requested: "build",
        resolved: "build",
        callbackSession: "agent:main:main",
        callbackSessionId: "s-1",
        projectId: "p1",
        repoRoot: path.join(tmp, "my proj"),
      },
      extra: [["note", "héllo wörld"]],
    });
  });

  it("refuses to build a title the relay would refuse, with its code and nothing on stdout", async () => {
    expect(await main(["title", "--run-id", "r1"], io)).toBe(1);
    expect(io.out()).toBe("");
    expect(io.err()).toContain("INTEGRITY_MISSING_CALLBACK_SESSION");
    const bad = await titleJson(
      "--run-id",
      "r1",
      "--callback-session",
      "agent:main:main",
      "--tag",
      "runId=x",
    );
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ ok: false, code: "TITLE_BAD_KEY" });
  });

  it("--explain shows the tags and the route of a title the relay accepts", async () => {
    const { code, json } = await titleJson(
      "--explain",
      "Fix runId=run%2042 callbackSession=agent:main:ci requested=a resolved=b x=y",
    );
    expect(code).toBe(0);
    expect(json).toMatchObject({
      ok: true,
      text: "Fix",
      tags: { runId: "run 42", callbackSession: "agent:main:ci", requested: "a", resolved: "b" },
      extra: [["x", "y"]],
      route: { callbackSession: "agent:main:ci", callbackSessionId: null },
      fallbackUsed: true,
      prefixes: ["agent:main:"],
    });
  });

  it.each([
    ["t runId=r callbackSession=hook:x", "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED", false],
    ["t runId=r", "INTEGRITY_MISSING_CALLBACK_SESSION", false],
    ["t runId=r callbackSession=agent:main:main runId=s", "TITLE_DUPLICATE_KEY", false],
    ["t runId=r callbackSession=agent", "INTEGRITY_MALFORMED_CALLBACK_SESSION", false],
    ["t runId=r callbackSession=agent:main:main repoRoot=rel/path", "INTEGRITY_REPO_ROOT_MISMATCH", false],
    ["t callbackSession=agent:main:main", "INTEGRITY_MISSING_RUN_ID", true],
  ])("--explain %j: refused with %s (exit 1)", async (title, expected, ignored) => {
    const { code, json } = await titleJson("--explain", title);
    expect(code).toBe(1);
    expect(json).toMatchObject({ ok: false, code: expected, ignored });
  });

  it("checks the callbackSession against the prefixes of the configuration it finds", async () => {
    const configDir = path.join(tmp, "cfg");
    await mkdir(configDir);
    await writeFile(
      path.join(configDir, "callback-relay.jsonc"),
      `{ "target": { "url": "http://127.0.0.1:1/hooks" }, "callbackSessionPrefixes": ["hook:"] }`,
    );
    const accepted = await titleJson(
      "--explain",
      "t runId=r callbackSession=hook:x",
      "--config-dir",
      configDir,
    );
    expect(accepted).toMatchObject({ code: 0, json: { ok: true, prefixes: ["hook:"] } });
  });

  it("human output: the title alone on stdout when building; refusals on stderr", async () => {
    expect(await main(["title", "--explain", "t runId=r callbackSession=agent:main:main"], io)).toBe(0);
    expect(io.out()).toContain("agent:main:main");
    expect(io.err()).toBe("");
  });

  it("is a usage mistake (exit 2) to mix --explain with tag flags, or to pass positionals", async () => {
    expect(await main(["title", "--explain", "t", "--run-id", "r"], io)).toBe(2);
    expect(await main(["title", "stray"], io)).toBe(2);
    expect(await main(["title", "--tag", "novalue"], io)).toBe(2);
  });

  it("prints its help on --help", async () => {
    expect(await main(["title", "--help"], io)).toBe(0);
    expect(io.out()).toContain("--explain");
  });
});
