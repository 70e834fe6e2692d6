import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../scripts/cli/cli.ts";
import { startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { captureIO } from "../helpers/capture-io.ts";
import { type E2EWorld, startWorld } from "./e2e-context.ts";

/**
 * `dispatch` against a real `opencode serve` with the relay installed: the run is created with a
 * tagged title, prompted asynchronously, followed to its end over the server's event stream, and
 * the relay in that serve calls back to the callbackSession the flags named.
 */

const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
let world: E2EWorld;

beforeAll(async () => {
  world = await startWorld(); // builds dist/ first
});
afterAll(async () => {
  await world?.close();
});

/** Run the built CLI as a user would, `input` on its stdin; resolves with exit code and output. */
function runCli(
  args: string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: world.server.home,
        XDG_CONFIG_HOME: path.join(world.server.root, "cli-config"),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe("dispatch against a real opencode serve", () => {
  it("--wait: creates the tagged session, prompts it from stdin, exits 0 on completed, and the relay calls back", async () => {
    const result = await runCli(
      [
        "dispatch",
        ...[
          "--server",
          world.server.url,
          "--dir",
          world.server.projectDir,
          "--repo-root",
          world.server.projectDir,
        ],
        ...["--callback-session", "agent:main:dispatch-ok", "--task-id", "T 1", "--text", "Fix login"],
        ...["--prompt", "-", "--wait", "--json", "--timeout", "60"],
      ],
      "please fix it [[fake:text text=fixed_it]]",
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout);
    expect(printed).toMatchObject({ outcome: "completed", error: null });
    expect(printed.runId).toMatch(/^run-[0-9a-f]{12}$/);
    const session = await world.server.getSession(printed.sessionId);
    expect(session.title).toBe(printed.title);
    expect(printed.title).toContain("taskId=T%201");
    const delivered = await world.waitForAudit(
      (record) => record.phase === "delivered" && record.sessionId === printed.sessionId,
    );
    expect(delivered[0]).toMatchObject({ runId: printed.runId, callbackSession: "agent:main:dispatch-ok" });
    const users = (await world.server.messages(printed.sessionId)).filter((m) => m.info.role === "user");
    expect(users).toHaveLength(1);
  });

  it("--wait: exits 1 and says failed when the run fails", async () => {
    const io = captureIO(world.server.projectDir, {
      XDG_CONFIG_HOME: path.join(world.server.root, "cli-config"),
    });
    const code = await main(
      [
        "dispatch",
        ...["--server", world.server.url, "--callback-session", "agent:main:dispatch-fail"],
        ...["--run-id", "run-dispatch-fail", "--prompt", "[[fake:error status=401]]", "--wait", "--json"],
      ],
      io,
    );
    expect(io.err()).toBe("");
    expect(code).toBe(1);
    expect(JSON.parse(io.out())).toMatchObject({ runId: "run-dispatch-fail", outcome: "failed" });
  });

  it("without --wait: returns at once with {sessionId, runId, title}", async () => {
    const io = captureIO(world.server.projectDir, {
      XDG_CONFIG_HOME: path.join(world.server.root, "cli-config"),
    });
    const code = await main(
      [
        "dispatch",
        ...["--server", world.server.url, "--callback-session", "agent:main:dispatch-nowait"],
        ...["--run-id", "run-nowait", "--prompt", "hello", "--json"],
      ],
      io,
    );
    expect(code).toBe(0);
    const printed = JSON.parse(io.out());
    expect(Object.keys(printed).sort()).toEqual(["runId", "sessionId", "title"]);
    expect(printed.runId).toBe("run-nowait");
    await world.waitForAudit(
      (record) => record.phase === "delivered" && record.sessionId === printed.sessionId,
    );
  });

  it("refuses a server that has no relay plugin, with DISPATCH_NO_RELAY, before creating anything", async () => {
    const bare = await startOpencodeServer({ modelBaseURL: world.model.baseURL, bundlePath: null });
    try {
      const io = captureIO(bare.projectDir, { XDG_CONFIG_HOME: path.join(world.server.root, "cli-config") });
      const args = ["dispatch", "--server", bare.url, "--callback-session", "agent:main:x", "--prompt", "hi"];
      expect(await main(args, io)).toBe(1);
      expect(io.err()).toContain("DISPATCH_NO_RELAY");
      expect(io.out()).toBe("");
      expect(await bare.request<unknown[]>("GET", "/session")).toEqual([]);
    } finally {
      await bare.stop();
    }
  });
});
