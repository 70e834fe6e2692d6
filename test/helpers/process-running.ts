import { readFileSync } from "node:fs";

/**
 * Whether `pid` runs. A zombie (ended, not yet reaped by whoever adopted it) does not: its state,
 * field 3 of `/proc/<pid>/stat`, after the command name, which may hold spaces and parentheses.
 */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
