import { join } from "node:path";
import { openAuditLog } from "../../relay/audit/audit-log.ts";
import { configSchema } from "../../relay/config/config-schema.ts";
import { createRelay } from "../../relay/core/create-relay.ts";
import { buildTitle } from "../../relay/title/build-title.ts";

/**
 * A Node program that uses the relay the way a script would: create it, prepare it (which starts
 * the flusher's thread), send one callback, drain, close. It never calls `process.exit()`: the
 * test (process-exit.test.ts) checks that the process then ends on its own. Input as JSON in
 * EXIT_CHILD_INPUT: `{ url, dir }`.
 */
const { url, dir } = JSON.parse(process.env.EXIT_CHILD_INPUT ?? "{}") as { url: string; dir: string };
const TOKEN = "tok-exit-child";
const config = configSchema.parse({
  target: { url: `${url}/hooks`, token: TOKEN },
  callbackSessionPrefixes: ["agent:main:"],
});
const audit = openAuditLog({ path: join(dir, "audit.jsonl"), secrets: [TOKEN] });
const relay = createRelay({
  config,
  instance: { projectId: "proj-exit", worktree: "/srv/exit", directory: "/srv/exit" },
  audit,
  stateDir: join(dir, "state"),
});
await relay.prepare();
const title = buildTitle("task exit", { runId: "exit-1", callbackSession: "agent:main:main" });
relay.submit({
  sessionId: "ses_exit-1",
  pinnedTitle: title,
  currentTitle: title,
  outcome: "completed",
  agentRan: "build",
  summary: "All done.",
  filesChanged: [],
  startedAt: 1_000,
  endedAt: 4_000,
});
await relay.drain();
await relay.close();
await audit.flush();
process.stdout.write("closed\n");
