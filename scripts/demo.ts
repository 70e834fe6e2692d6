/**
 * `npm run demo`: the whole chain on this machine with nothing else installed.
 *
 * A fake OpenAI-compatible model and a callback receiver on loopback, a real `opencode serve`
 * with the plugin bundle installed into a scratch config dir, one tagged session run to
 * completion; then the callback the receiver got and the audit trail are printed.
 * Everything runs in a temp dir that is removed at the end.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildTitle, verifyAudit } from "../relay/index.ts";
import { audit } from "./cli/commands/audit.ts";
import { type ReceivedCallback, startReceiver } from "./cli/start-receiver.ts";
import { stopSignal } from "./cli/stop-signal.ts";
import { startFakeModel } from "./dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "./dev/opencode-server.ts";
import { waitFor } from "./dev/wait-for.ts";

const TOKEN = "demo-hooks-token";
const CALLBACK_SESSION = "agent:main:main";

const bold = (text: string) =>
  process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${text}\x1b[0m` : text;
const step = (text: string) => process.stdout.write(`\n${bold(`▶ ${text}`)}\n`);

/**
 * Ctrl-C (or SIGTERM) mid-demo: `stop` what the demo started and remove its temp dir, then exit
 * 130 (143) as a shell expects. A second one exits at once.
 */
function onInterrupt(stop: () => Promise<void>): void {
  const interrupted = stopSignal();
  interrupted.addEventListener("abort", () => {
    const signal = interrupted.reason as NodeJS.Signals;
    const code = signal === "SIGTERM" ? 143 : 130;
    process.once("SIGINT", () => process.exit(code));
    process.once("SIGTERM", () => process.exit(code));
    process.stderr.write(
      `\n${signal === "SIGTERM" ? "terminated" : "interrupted"}: stopping opencode serve and removing the demo's temp dir\n`,
    );
    void stop()
      .catch(() => undefined)
      .finally(() => process.exit(code));
  });
}

async function main(): Promise<number> {
  const received: Array<{ callback: ReceivedCallback; headers: Record<string, string> }> = [];
  const model = await startFakeModel();
  const receiver = await startReceiver({
    port: 0,
    token: TOKEN,
    onCallback: (callback) => received.push({ callback, headers: {} }),
  });
  let server: OpencodeServer | undefined;
  let stopped: Promise<void> | undefined;
  /** Once, whoever asks first: the end of main() or a Ctrl-C. */
  const stopAll = () =>
    (stopped ??= (async () => {
      await server?.stop();
      await receiver.close();
      await model.close();
    })());
  onInterrupt(stopAll);
  try {
    step("Starting a fake model, a callback receiver and a real `opencode serve` with the plugin installed");
    server = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      relayConfig: {
        target: { kind: "openclaw-agent", url: `${receiver.url}/hooks`, token: "{env:DEMO_HOOKS_TOKEN}" },
        callbackSessionPrefixes: ["agent:main:"],
        audit: { path: "../../audit/audit.jsonl" },
        stateDir: "../../state",
      },
      env: { DEMO_HOOKS_TOKEN: TOKEN },
    });
    const auditPath = join(server.root, "audit", "audit.jsonl");
    process.stdout.write(
      `  fake model   ${model.baseURL}\n  receiver     ${receiver.url}/hooks (bearer token required)\n` +
        `  opencode     ${server.url} (pid ${server.pid}, listening after ${Math.round(server.startupMs)} ms)\n` +
        `  plugin       ${join(server.configDir, "plugins", "opencode-callback-relay.js")}\n` +
        `  audit log    ${auditPath}\n`,
    );

    step("An orchestrator creates a tagged session and sends a prompt");
    const title = buildTitle("Add a greeting file", {
      runId: `run-${Date.now().toString(36)}`,
      taskId: "T-1",
      requested: "build",
      resolved: "build",
      callbackSession: CALLBACK_SESSION,
      repoRoot: server.projectDir,
    });
    const session = await server.createSession(title);
    process.stdout.write(`  title   ${title}\n  session ${session.id}\n`);
    await server.prompt(
      session.id,
      "[[fake:write path=hello.txt content=Hello_from_OpenCode]] Add hello.txt",
    );
    process.stdout.write("  the turn ended; the plugin noticed the idle and handed the run to the relay\n");

    step("The receiver got exactly one callback, for the caller session named in the title");
    const { callback } = await waitFor("the callback", () => received[0], 30_000);
    const body = callback.body as Record<string, unknown>;
    process.stdout.write(
      `  POST ${callback.path}  outcome=${callback.outcome}  runId=${callback.runId}\n` +
        `  sessionKey=${String(body.sessionKey)}  sessionMode=${String(body.sessionMode)}  idempotencyKey=${callback.idempotencyKey}\n\n` +
        `${(callback.message ?? "").replace(/^/gm, "    ")}\n`,
    );

    step("The audit trail (one record per step, hash-chained)");
    // The `delivered` record follows the receiver's 200: wait until the log has it. Only
    // newline-terminated lines are whole records (the plugin may be mid-write).
    const wholeLines = () => readFileSync(auditPath, "utf8").split("\n").slice(0, -1);
    const lines = await waitFor(
      "the delivered record",
      () => {
        try {
          const now = wholeLines();
          return now.some((line) => line.includes('"phase":"delivered"')) ? now : undefined;
        } catch {
          return undefined; // not created yet
        }
      },
      10_000,
    );
    for (const line of lines) {
      const record = JSON.parse(line) as Record<string, unknown>;
      const extra = record.code
        ? `  code=${String(record.code)}`
        : record.status
          ? `  status=${String(record.status)}`
          : "";
      process.stdout.write(
        `  ${String(record.ts)}  ${String(record.phase).padEnd(16)}${extra}  hash=${String(record.hash).slice(0, 12)}…\n`,
      );
    }
    const verdict = await verifyAudit(auditPath);
    process.stdout.write(`  audit verify: ${verdict.ok ? "ok" : "BROKEN"} (${verdict.records} records)\n`);

    step("`opencode-callback-relay audit` over the same log");
    await audit(["--file", auditPath], {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      env: process.env,
      cwd: process.cwd(),
      color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    });

    const ok = received.length === 1 && verdict.ok && callback.callbackSession === CALLBACK_SESSION;
    step(ok ? "Demo complete: one audited callback, to the exact caller session." : "Demo FAILED");
    return ok ? 0 : 1;
  } catch (error) {
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    if (server) process.stderr.write(`\nlast opencode output:\n${server.output().slice(-4000)}\n`);
    return 1;
  } finally {
    await stopAll();
  }
}

process.exitCode = await main();
