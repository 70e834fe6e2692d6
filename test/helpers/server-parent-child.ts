import { startOpencodeServer } from "../../scripts/dev/opencode-server.ts";

/**
 * A process that starts a real `opencode serve` (no plugin, no model needed to listen), prints
 * `{ pid, root }` and waits: a test kills it as a crash would and watches what is left.
 */
const server = await startOpencodeServer({ modelBaseURL: "http://127.0.0.1:9/v1", bundlePath: null });
process.stdout.write(`${JSON.stringify({ pid: server.pid, root: server.root })}\n`);
setInterval(() => {}, 1 << 30);
