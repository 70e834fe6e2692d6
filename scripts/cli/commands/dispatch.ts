import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildTitle, RelayError } from "../../../relay/index.ts";
import type { CliCommand, CliIO } from "../cli-io.ts";
import { explainTitle } from "../explain-title.ts";
import { findRelayPlugin } from "../find-relay-plugin.ts";
import { followRun, type RunEnd } from "../follow-run.ts";
import { loadPolicy } from "../load-policy.ts";
import { opencodeClient } from "../opencode-client.ts";
import { readEvents } from "../read-events.ts";
import { TAG_FLAG_HELP, TAG_FLAG_OPTIONS, tagsFromFlags } from "../tag-flags.ts";
import { UsageError } from "../usage-error.ts";

const HELP = `usage: opencode-callback-relay dispatch --server URL --callback-session KEY --prompt TEXT|- [options]

Creates a session with a correctly tagged title on a running opencode serve, sends it the prompt
without waiting (prompt_async) and prints {sessionId, runId, title}. When the run ends, the relay
plugin in that serve calls back to --callback-session. With --wait it also follows the server's
event stream until the run ends: exit 0 for completed, 1 otherwise (failed, aborted, unknown).

  opencode-callback-relay dispatch --server http://127.0.0.1:4096 --dir /srv/app \\
    --callback-session agent:main:main --text "Fix login" --prompt "Fix the login bug"

options:
  --server URL              the opencode serve (required)
  --dir DIR                 the project directory the run works in (default: this directory);
                            repoRoot is not set unless --repo-root is given
  --prompt TEXT             the prompt; "-" reads it from standard input (required)
  --agent NAME              the OpenCode agent to run (default: the server's default agent)
  --wait                    follow the run to its end; the exit code says how it ended
  --timeout SECONDS         with --wait: give up after this long (exit 1, outcome "unknown")
  --no-relay-check          dispatch even when the server shows no relay plugin for --dir
  --config-dir DIR          check the title against DIR's callback-relay.jsonc (default: the
                            one the plugin would load on this machine, else the defaults)
  --json                    print JSON only (one object; with --wait, when the run has ended)
  -h, --help                this help

tag flags (--run-id defaults to a new random run-…):
${TAG_FLAG_HELP}
Before creating anything it refuses (exit 1, with a code) a title the relay would refuse (outside
the default prefixes, with no configuration read here, only a warning), and a
server whose configuration for --dir registers no opencode-callback-relay plugin
(DISPATCH_NO_RELAY). It cannot tell whether that plugin started, or whether its configuration and
gateway work: \`opencode-callback-relay audit\` on the server's machine shows that.
`;

const OPTIONS = {
  ...TAG_FLAG_OPTIONS,
  server: { type: "string" },
  dir: { type: "string" },
  prompt: { type: "string" },
  agent: { type: "string" },
  wait: { type: "boolean", default: false },
  timeout: { type: "string" },
  "no-relay-check": { type: "boolean", default: false },
  "config-dir": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type DispatchValues = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>
>["values"];

/** `opencode-callback-relay dispatch`: hand a prompt to an opencode serve in a tagged session. */
export const dispatch: CliCommand = async (args, io) => {
  const { values, positionals } = parseArgs({
    args,
    options: OPTIONS,
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  try {
    return await handOver(values, positionals, io);
  } catch (error) {
    // --json prints only JSON: a refusal with its code too (usage mistakes stay on stderr, exit 2).
    if (!values.json || !(error instanceof RelayError)) throw error;
    const { code, message, hint } = error;
    io.stdout(`${JSON.stringify({ ok: false, code, message, hint })}\n`);
    return 1;
  }
};

/** Check, create, prompt and (--wait) follow; the exit code. Refusals throw RelayError. */
async function handOver(values: DispatchValues, positionals: string[], io: CliIO): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`unexpected ${JSON.stringify(positionals[0])}`);
  if (values.server === undefined) throw new UsageError("--server URL is required (the opencode serve)");
  if (!URL.canParse(values.server))
    throw new UsageError(`--server ${JSON.stringify(values.server)} is not a URL`);
  if (values.prompt === undefined)
    throw new UsageError('--prompt TEXT is required ("-" reads standard input)');
  const timeoutMs = parseTimeout(values.timeout);

  const directory = resolve(io.cwd, values.dir ?? ".");
  const { text, tags, extra } = tagsFromFlags(values, io.cwd);
  tags.runId ??= `run-${randomBytes(6).toString("hex")}`;
  const title = buildTitle(text, tags, extra);
  const policy = await loadPolicy(values["config-dir"], io);
  const explained = explainTitle(title, policy.policy);
  // The prefixes are the serving relay's to decide. Without a configuration read on this machine
  // (none, or one that needs variables only the server has) the defaults are a guess: warn only.
  const guessedPrefixes =
    policy.file === null && !explained.ok && explained.code === "INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED";
  if (guessedPrefixes) {
    io.stderr(
      `opencode-callback-relay dispatch: warning: ${explained.code} under the default callbackSessionPrefixes${policy.problem ? ` (this machine's configuration has ${policy.problem})` : ""}; the serving relay decides with its own\n`,
    );
  } else if (!explained.ok) {
    throw new RelayError(explained.code, `the title would be refused by the relay: ${explained.message}`, {
      hint: explained.hint,
    });
  }
  const prompt = values.prompt === "-" ? await readStdin(io) : values.prompt;
  if (prompt.trim() === "") throw new UsageError("the prompt is empty");

  const client = opencodeClient(values.server, directory);
  if (!values["no-relay-check"]) {
    const config = await client.config();
    if (findRelayPlugin(config.plugin) === null) {
      throw new RelayError(
        "DISPATCH_NO_RELAY",
        `${values.server} lists no opencode-callback-relay in its plugins for ${directory}, so no callback would be sent`,
        { details: { server: values.server, directory, plugins: config.plugin ?? [] } },
      );
    }
  }

  const session = await client.createSession(title);
  const started = { sessionId: session.id, runId: tags.runId, title: session.title };
  // Subscribe before prompting, so not even a very short run's events are missed.
  const stop = new AbortController();
  const events = values.wait ? await client.events(stop.signal) : null;
  try {
    await client.promptAsync(session.id, prompt, values.agent);
    if (events === null) {
      io.stdout(values.json ? `${JSON.stringify(started)}\n` : describeStart(started));
      return 0;
    }
    if (!values.json) io.stdout(describeStart(started));
    const timer = timeoutMs === null ? null : setTimeout(() => stop.abort(), timeoutMs);
    let end: RunEnd;
    try {
      end = await followRun(readEvents(events), session.id, () => client.messages(session.id));
    } catch (error) {
      // The run was handed over: whatever went wrong while watching it, its outcome is unknown here.
      end = stop.signal.aborted
        ? { outcome: "unknown", error: { name: "Timeout", message: `no end within ${values.timeout} s` } }
        : { outcome: "unknown", error: { name: "EventStreamFailed", message: describeError(error) } };
    } finally {
      if (timer) clearTimeout(timer);
    }
    io.stdout(values.json ? `${JSON.stringify({ ...started, ...end })}\n` : describeEnd(end));
    return end.outcome === "completed" ? 0 : 1;
  } finally {
    stop.abort();
  }
}

function describeStart(started: { sessionId: string; runId: string; title: string }): string {
  return `dispatched run ${started.runId} in session ${started.sessionId}\ntitle: ${started.title}\n`;
}

function describeEnd(end: RunEnd): string {
  return `outcome: ${end.outcome}${end.error ? ` (${end.error.name}: ${end.error.message})` : ""}\n`;
}

function describeError(error: unknown): string {
  if (error instanceof RelayError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function parseTimeout(value: string | undefined): number | null {
  if (value === undefined) return null;
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0)
    throw new UsageError(`--timeout ${JSON.stringify(value)}: expected seconds, a positive number`);
  return Number(value) * 1000;
}

async function readStdin(io: CliIO): Promise<string> {
  if (io.readStdin) return io.readStdin();
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
