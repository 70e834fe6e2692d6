import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Who holds something in the state dir (a journalled run, a lease): enough to tell, from another
 * process, whether that holder still runs. A bare pid is not enough: after a reboot or a container
 * restart the same pid names another process. So the owner also carries the kernel's boot id and
 * the process's start time (clock ticks since boot, `/proc/<pid>/stat` field 22), which together
 * with the pid name one process for the life of the machine.
 */
export interface ProcessOwner {
  host: string;
  pid: number;
  /** `/proc/sys/kernel/random/boot_id`; null where the platform has none (not Linux). */
  bootId: string | null;
  /** The process's start time in clock ticks since boot; null where it cannot be read. */
  startTime: string | null;
}

/** `alive`: that very process runs; `dead`: it does not; `unknown`: it cannot be told from here. */
export type Liveness = "alive" | "dead" | "unknown";

let self: ProcessOwner | undefined;

/** This process as an owner (computed once). */
export function currentOwner(): ProcessOwner {
  self ??= {
    host: hostname(),
    pid: process.pid,
    bootId: readBootId(),
    startTime: readStartTime(process.pid),
  };
  return self;
}

/**
 * Whether the owner recorded in a file still runs. Anything unparseable is `unknown`, never
 * `dead`: a half-written record must not get a live holder's work taken away.
 * - another host: `unknown` (the caller decides by renewal age);
 * - same host, another boot: `dead` (every process of that boot is gone);
 * - same boot: `dead` when the pid is gone or now belongs to a process started at another time.
 */
export function ownerLiveness(owner: unknown): Liveness {
  if (!isOwner(owner)) return "unknown";
  const me = currentOwner();
  if (owner.host !== me.host) return "unknown";
  if (owner.bootId !== null && me.bootId !== null && owner.bootId !== me.bootId) return "dead";
  if (owner.pid === me.pid && owner.startTime === me.startTime) return "alive";
  if (!pidExists(owner.pid)) return "dead";
  if (owner.startTime === null) return "unknown";
  const now = readStartTime(owner.pid);
  if (now === null) return pidExists(owner.pid) ? "unknown" : "dead";
  return now === owner.startTime ? "alive" : "dead";
}

/** Whether `value` has the shape of a ProcessOwner (as read back from JSON). */
export function isOwner(value: unknown): value is ProcessOwner {
  const o = value as Partial<ProcessOwner> | null;
  return (
    typeof o === "object" &&
    o !== null &&
    typeof o.host === "string" &&
    typeof o.pid === "number" &&
    Number.isInteger(o.pid) &&
    o.pid > 0 &&
    (o.bootId === null || typeof o.bootId === "string") &&
    (o.startTime === null || typeof o.startTime === "string")
  );
}

/** Whether a process with this pid runs on this host (EPERM: it does, under another user). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readBootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || null;
  } catch {
    return null;
  }
}

/** Field 22 of `/proc/<pid>/stat`; the command name (field 2) may hold spaces and parentheses. */
function readStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state), so field 22 is fields[19].
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
