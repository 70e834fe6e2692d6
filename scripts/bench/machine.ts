import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { DEFAULT_OPENCODE_BIN } from "../dev/opencode-server.ts";

/** The machine a run measured: cores, CPU model, memory, Node and OpenCode versions. */
export function machineInfo(): Record<string, string> {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match?.[1]) cpu = match[1].trim();
  } catch {
    // Not Linux: os.cpus() is the best we have.
  }
  let opencode = "not found";
  try {
    opencode = execFileSync(DEFAULT_OPENCODE_BIN, ["--version"], {
      encoding: "utf8",
      timeout: 20_000,
    }).trim();
  } catch {
    // Reported as not found.
  }
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync("nproc", { encoding: "utf8" }).trim();
  } catch {
    // os.cpus() count.
  }
  return {
    nproc,
    cpu,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    opencode,
    platform: `${process.platform} ${process.arch}`,
  };
}

export async function machineMarkdown(): Promise<string> {
  const info = machineInfo();
  return `machine: ${Object.entries(info)
    .map(([key, value]) => `${key}=${value}`)
    .join(", ")}`;
}
