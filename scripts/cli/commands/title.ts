import { parseArgs } from "node:util";
import { buildTitle, toRelayError } from "../../../relay/index.ts";
import type { CliCommand, CliIO } from "../cli-io.ts";
import { explainTitle, type TitleExplanation } from "../explain-title.ts";
import { loadPolicy, type TitlePolicy } from "../load-policy.ts";
import { TAG_FLAG_HELP, TAG_FLAG_OPTIONS, tagsFromFlags } from "../tag-flags.ts";
import { UsageError } from "../usage-error.ts";

const HELP = `usage: opencode-callback-relay title --run-id ID --callback-session KEY [tag flags] [--json]
       opencode-callback-relay title --explain "<title>" [--json]

Prints a session title carrying the routing tags, encoded so the relay reads back exactly these
values (spaces, %, = and non-ASCII text included). Use it instead of writing titles by hand:
  opencode-callback-relay title --run-id run-42 --callback-session agent:main:main --text "Fix login"

--explain shows what the relay will read from a title: its tags and the route, or the code it
refuses it with (exit 1). A title without runId is ignored by the relay (exit 1, ignored: true).

tag flags:
${TAG_FLAG_HELP}
options:
  --explain TITLE           read TITLE as the relay would instead of building one
  --config-dir DIR          check against the callbackSessionPrefixes of DIR's callback-relay.jsonc
                            (default: the one the plugin would load, else the defaults)
  --json                    print JSON only: {ok, title, text, tags, extra, route} or {ok: false, code, …}
  -h, --help                this help

Checked here: the encoding, the tags, the callbackSession shape and prefixes. Checked only by the
opencode serve the run goes to: that repoRoot/projectId name its project and which agent ran.
Exit: 0 the relay would route it; 1 refused or ignored; 2 a usage mistake.
`;

/** `opencode-callback-relay title`: build a tagged title from flags, or `--explain` one. */
export const title: CliCommand = async (args, io) => {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...TAG_FLAG_OPTIONS,
      explain: { type: "string" },
      "config-dir": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(
      `unexpected ${JSON.stringify(positionals[0])}: free words go in --text, a title to read in --explain`,
    );
  }
  const policy = await loadPolicy(values["config-dir"], io);
  if (values.explain !== undefined) {
    const buildFlags = Object.keys(TAG_FLAG_OPTIONS).filter((flag) => flag in values);
    if (buildFlags.length > 0) throw new UsageError(`--explain reads a title; --${buildFlags[0]} builds one`);
    return report(explainTitle(values.explain, policy.policy), policy, io, values.json, true);
  }
  const { text, tags, extra } = tagsFromFlags(values, io.cwd);
  let built: string;
  try {
    built = buildTitle(text, tags, extra);
  } catch (error) {
    const relayError = toRelayError(error);
    const failure: TitleExplanation = {
      ok: false,
      title: "",
      code: relayError.code,
      message: relayError.message,
      hint: relayError.hint,
      tags,
      ignored: false,
    };
    return report(failure, policy, io, values.json, false);
  }
  return report(explainTitle(built, policy.policy), policy, io, values.json, false);
};

/** Print the explanation (stdout) or the refusal (stderr, or stdout as JSON); the exit code. */
function report(
  explanation: TitleExplanation,
  policy: TitlePolicy,
  io: CliIO,
  json: boolean,
  explain: boolean,
): number {
  if (json) {
    io.stdout(`${JSON.stringify({ ...explanation, prefixes: policy.policy.callbackSessionPrefixes })}\n`);
    return explanation.ok ? 0 : 1;
  }
  if (!explanation.ok) {
    const what = explanation.ignored ? "ignored (no audit record)" : "refused";
    io.stderr(
      `opencode-callback-relay title: ${what}: ${explanation.code}: ${explanation.message}\n  hint: ${explanation.hint}\n`,
    );
    if (explain && Object.keys(explanation.tags).length > 0) io.stderr(formatTags(explanation.tags));
    return 1;
  }
  if (!explain) {
    io.stdout(`${explanation.title}\n`);
    return 0;
  }
  const id = explanation.route.callbackSessionId;
  const lines = [
    `text: ${JSON.stringify(explanation.text)}`,
    formatTags(explanation.tags, explanation.extra).trimEnd(),
    `route: one callback to ${explanation.route.callbackSession}${id === null ? "" : ` (session id ${id})`} when the run ends`,
    ...(explanation.fallbackUsed
      ? ["note: requested ≠ resolved: the callback reports fallbackUsed: true"]
      : []),
    `checked against: callbackSessionPrefixes ${policy.policy.callbackSessionPrefixes.map((p) => JSON.stringify(p)).join(", ")} (${policy.file ?? (policy.problem ? `defaults: the configuration has ${policy.problem}` : "defaults")})`,
    "not checked here: repoRoot/projectId against the serving project, the agent that runs",
  ];
  io.stdout(`${lines.join("\n")}\n`);
  return 0;
}

/** The tags one per line, keys aligned; extra tags after them, marked as not used for routing. */
function formatTags(tags: Record<string, string | undefined>, extra: Array<[string, string]> = []): string {
  const known = Object.entries(tags).filter((entry): entry is [string, string] => entry[1] !== undefined);
  if (known.length + extra.length === 0) return "tags: (none)\n";
  const width = Math.max(...[...known, ...extra].map(([key]) => key.length));
  const line = ([key, value]: [string, string]) => `  ${key.padEnd(width)} = ${JSON.stringify(value)}`;
  const lines = [...known.map(line), ...extra.map((entry) => `${line(entry)}  (extra: audited, not used)`)];
  return `tags:\n${lines.join("\n")}\n`;
}
