import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Run one measurement in a fresh `node --expose-gc dist/bench.js --child <name>` (so its RSS and
 * import time are its own), passing `input` as JSON in BENCH_CHILD_INPUT, and return the JSON the
 * child prints on its last stdout line. The child is waited for; on timeout it is killed by pid.
 */
export function runInChild<T>(
  name: string,
  input: unknown,
  timeoutMs = 120_000,
  env: Record<string, string> = {},
): Promise<T> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", script, "--child", name], {
      env: { ...process.env, ...env, BENCH_CHILD_INPUT: JSON.stringify(input) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString("utf8");
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, timeoutMs);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0) return reject(new Error(`child ${name} exited ${code ?? signal}: ${err.slice(-2000)}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`child ${name} printed no result: ${out.slice(-500)} ${err.slice(-1000)}`));
      }
    });
  });
}

/** In the child: its input. */
export function childInput<T>(): T {
  return JSON.parse(process.env.BENCH_CHILD_INPUT ?? "{}") as T;
}
