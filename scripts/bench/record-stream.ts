import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTitle } from "../../relay/index.ts";
import { startFakeModel } from "../dev/fake-model.ts";
import { startOpencodeServer } from "../dev/opencode-server.ts";

/**
 * Records the event stream the benchmarks replay (`npm run bench -- --record-stream`): a real
 * `opencode serve` with a probe plugin appending every event its hook receives, driven through
 * three tagged sessions: a long streamed answer (2,000 chunks), a subagent (`task`), and a
 * provider error (401). Startup noise before the first `session.created` is dropped and temp
 * paths are rewritten to `/tmp/e2e/project`, as in test/fixtures/opencode-1.18.33/.
 */

/** Where the recording lives. */
export const STREAM_FIXTURE_DIR = join(process.cwd(), "test", "fixtures");
export const STREAM_EVENTS = join(STREAM_FIXTURE_DIR, "bench-stream.events.jsonl");
export const STREAM_MESSAGES = join(STREAM_FIXTURE_DIR, "bench-stream.messages.json");

/** Chunks in the long streamed answer (the "long streamed turn"). */
export const LONG_TURN_CHUNKS = 2_000;

const PROBE = `import { appendFileSync } from "node:fs";
const file = process.env.BENCH_PROBE_FILE;
export const BenchProbe = async () => ({
  event: async ({ event }) => { appendFileSync(file, JSON.stringify(event) + "\\n"); },
});
`;

export async function recordStream(log: (line: string) => void): Promise<void> {
  const model = await startFakeModel();
  let server: Awaited<ReturnType<typeof startOpencodeServer>> | undefined;
  const probeFile = join(tmpdir(), `ocr-bench-probe-${process.pid}.jsonl`);
  try {
    await writeFile(probeFile, "");
    server = await startOpencodeServer({
      modelBaseURL: model.baseURL,
      bundlePath: null,
      extraPlugins: { "bench-probe.js": PROBE },
      env: { BENCH_PROBE_FILE: probeFile },
    });
    const scenarios = [
      { runId: "run-long", prompt: `[[fake:text chunks=${LONG_TURN_CHUNKS}]] write a long answer` },
      { runId: "run-task", prompt: "[[fake:task description=look_around]] delegate" },
      { runId: "run-error", prompt: "[[fake:error status=401]] fail" },
    ];
    const messages: Record<string, unknown> = {};
    for (const scenario of scenarios) {
      const title = buildTitle(`bench ${scenario.runId}`, {
        runId: scenario.runId,
        taskId: `T-${scenario.runId}`,
        requested: "build",
        resolved: "build",
        callbackSession: "agent:main:main",
      });
      const session = await server.createSession(title);
      const started = performance.now();
      await server.prompt(session.id, scenario.prompt, 120_000).catch(() => undefined);
      // The error turn's second idle follows the first; let the stream settle.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      messages[session.id] = await server.messages(session.id);
      log(`  recorded ${scenario.runId} (${Math.round(performance.now() - started)} ms)`);
    }
    const root = server.root;
    const raw = await readFile(probeFile, "utf8");
    const lines = raw.split("\n").filter((line) => line !== "");
    const first = lines.findIndex((line) => line.includes('"type":"session.created"'));
    const rewrite = (text: string) =>
      text.replaceAll(server?.projectDir ?? "\u0000", "/tmp/e2e/project").replaceAll(root, "/tmp/e2e");
    await mkdir(STREAM_FIXTURE_DIR, { recursive: true });
    await writeFile(STREAM_EVENTS, `${lines.slice(first).map(rewrite).join("\n")}\n`);
    await writeFile(STREAM_MESSAGES, `${rewrite(JSON.stringify(messages))}\n`);
    log(`  wrote ${STREAM_EVENTS} (${lines.length - first} events) and ${STREAM_MESSAGES}`);
  } finally {
    await server?.stop();
    await model.close();
    await rm(probeFile, { force: true });
  }
}
