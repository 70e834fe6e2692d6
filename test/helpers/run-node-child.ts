import { spawn } from "node:child_process";

/** How a child process ended, and what it printed. */
export interface ChildEnd {
  out: string;
  err: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Still running after the timeout: stopped (SIGKILL, by pid). */
  hung: boolean;
}

/**
 * Run `node <script>` (a bundle from bundleForChild) with `env` added to this process's, to its
 * end: its output read whole. A child still running after `timeoutMs` is killed by pid and
 * reported `hung`, so a test that waits for a process to end fails rather than hangs.
 */
export function runNodeChild(
  script: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
  /** Told the child's pid once it is spawned: a test that may end before the child does stops it. */
  onSpawn?: (pid: number) => void,
  /** Arguments after the script's path. */
  args: readonly string[] = [],
): Promise<ChildEnd> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (proc.pid !== undefined) onSpawn?.(proc.pid);
    let out = "";
    let err = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    proc.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString("utf8");
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      if (proc.pid !== undefined) process.kill(proc.pid, "SIGKILL");
    }, timeoutMs);
    proc.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    proc.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ out, err, code, signal, hung });
    });
  });
}
