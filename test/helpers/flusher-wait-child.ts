import { join } from "node:path";
import { startFlusher } from "../../relay/state/flusher.ts";

/**
 * A Node program whose only pending work is a job on the flusher's thread (relay/state/flusher.ts)
 * that outlived its wait: it must not end before the job is done. Prints `done` once it is, then
 * ends on its own. Input as JSON in FLUSHER_CHILD_INPUT: `{ dir }`.
 */
const { dir } = JSON.parse(process.env.FLUSHER_CHILD_INPUT ?? "{}") as { dir: string };
const flusher = await startFlusher();
if (flusher === undefined) throw new Error("no flusher thread");
const made = flusher.create(join(dir, "batch.json"), Buffer.from('{"v":1}\n'), 0);
if (!made.done) await made.finished;
process.stdout.write("done\n");
