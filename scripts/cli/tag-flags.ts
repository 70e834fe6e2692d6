import path from "node:path";
import type { TitleTags } from "../../relay/index.ts";
import { UsageError } from "./usage-error.ts";

/** Each known tag's flag, in the order buildTitle writes the tags. */
const FLAG_OF_TAG = {
  runId: "run-id",
  taskId: "task-id",
  requested: "requested",
  resolved: "resolved",
  callbackSession: "callback-session",
  callbackSessionId: "callback-session-id",
  projectId: "project-id",
  repoRoot: "repo-root",
} as const satisfies Record<keyof TitleTags, string>;

/** The node:util parseArgs options `title` and `dispatch` share: one flag per tag, free text, extra tags. */
export const TAG_FLAG_OPTIONS = {
  "run-id": { type: "string" },
  "task-id": { type: "string" },
  requested: { type: "string" },
  resolved: { type: "string" },
  "callback-session": { type: "string" },
  "callback-session-id": { type: "string" },
  "project-id": { type: "string" },
  "repo-root": { type: "string" },
  text: { type: "string" },
  tag: { type: "string", multiple: true },
} as const;

/** The help lines for {@link TAG_FLAG_OPTIONS}. */
export const TAG_FLAG_HELP = `  --run-id ID               the run's identity (required: only titles with a runId take part)
  --callback-session KEY    the caller's session key, e.g. agent:main:main (required)
  --callback-session-id ID  the caller's session id, when it has one
  --task-id ID              the task this run belongs to
  --requested AGENT         the agent asked for
  --resolved AGENT          the agent the orchestrator resolved it to
  --project-id ID           the OpenCode project the run must run in
  --repo-root PATH          the repository the run must run in (absolute; relative paths are made absolute)
  --text TEXT               free words before the tags (a human-readable name)
  --tag KEY=VALUE           an extra tag, kept and audited but not used for routing (repeatable)
`;

type TagFlagValues = { [K in keyof typeof TAG_FLAG_OPTIONS]?: K extends "tag" ? string[] : string };

/**
 * The title parts the flags give: free text, known tags, extra tags. `--repo-root` is made
 * absolute against `cwd` (the relay refuses a relative one, and `.` is what people type).
 *
 * @throws UsageError for a `--tag` without `=`.
 */
export function tagsFromFlags(
  values: TagFlagValues,
  cwd: string,
): { text: string; tags: TitleTags; extra: Array<[string, string]> } {
  const tags: TitleTags = {};
  for (const [key, flag] of Object.entries(FLAG_OF_TAG) as Array<[keyof TitleTags, string]>) {
    const value = values[flag as keyof TagFlagValues];
    if (typeof value === "string") tags[key] = value;
  }
  if (tags.repoRoot !== undefined && tags.repoRoot !== "") tags.repoRoot = path.resolve(cwd, tags.repoRoot);
  const extra: Array<[string, string]> = [];
  for (const pair of values.tag ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--tag ${JSON.stringify(pair)}: expected KEY=VALUE`);
    extra.push([pair.slice(0, at), pair.slice(at + 1)]);
  }
  return { text: values.text ?? "", tags, extra };
}
