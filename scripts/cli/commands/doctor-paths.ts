import { access, constants, lstat, stat } from "node:fs/promises";
import path from "node:path";
import { check, type DoctorCheck } from "./doctor-check.ts";

/**
 * The state dir and the audit log: writable by this user, and private (folders 0700, files 0600,
 * as the relay creates them). Nothing is created or changed: a missing folder is fine when its
 * nearest existing parent is a writable folder (the relay creates it, 0700). Run doctor as the
 * user that runs `opencode serve`: root passes every permission check.
 */
export async function checkPaths(stateDir: string, auditPath: string): Promise<DoctorCheck[]> {
  return [
    ...(await checkDir("stateDir", stateDir, "STATE_UNWRITABLE")),
    ...(await checkDir("audit.dir", path.dirname(auditPath), "AUDIT_UNWRITABLE")),
    ...(await checkAuditFile(auditPath)),
  ];
}

async function checkDir(id: string, dir: string, code: string): Promise<DoctorCheck[]> {
  const info = await stat(dir).catch(() => null);
  if (info === null) {
    const parent = await nearestExisting(dir);
    const usable = parent.info.isDirectory() && (await writable(parent.path));
    return usable
      ? [check(id, "ok", `${dir} will be created (0700) under ${parent.path}`)]
      : [
          check(
            id,
            "fail",
            `${dir} cannot be created: ${parent.path} is ${parent.info.isDirectory() ? "not writable" : "not a folder"}`,
            {
              code,
              fix: `point ${id === "stateDir" ? "stateDir" : "audit.path"} at a folder this user can write, or fix ${parent.path}`,
            },
          ),
        ];
  }
  if (!info.isDirectory() || !(await writable(dir))) {
    return [
      check(id, "fail", `${dir} is ${info.isDirectory() ? "not writable" : "not a folder"}`, {
        code,
        fix: `point ${id === "stateDir" ? "stateDir" : "audit.path"} at a folder this user can write`,
      }),
    ];
  }
  if ((info.mode & 0o077) !== 0) {
    return [
      check(
        id,
        "warn",
        `${dir} is writable but open to others (mode ${octal(info.mode)}): callbacks and audit records are private`,
        {
          fix: `chmod 700 ${dir}`,
        },
      ),
    ];
  }
  return [check(id, "ok", `${dir} is writable, mode ${octal(info.mode)}`)];
}

async function checkAuditFile(file: string): Promise<DoctorCheck[]> {
  const info = await lstat(file).catch(() => null);
  if (info === null) return [];
  if (info.isSymbolicLink() || !info.isFile()) {
    return [
      check(
        "audit.file",
        "fail",
        `${file} is ${info.isSymbolicLink() ? "a symbolic link" : "not a regular file"}: the audit log never follows one it did not create`,
        {
          code: "AUDIT_UNWRITABLE",
          fix: `remove ${file}, or point audit.path elsewhere`,
        },
      ),
    ];
  }
  if (!(await writable(file))) {
    return [
      check("audit.file", "fail", `${file} is not writable`, {
        code: "AUDIT_UNWRITABLE",
        fix: `chmod 600 ${file} as its owner`,
      }),
    ];
  }
  if ((info.mode & 0o077) !== 0) {
    return [
      check("audit.file", "warn", `${file} is open to others (mode ${octal(info.mode)})`, {
        fix: `chmod 600 ${file}`,
      }),
    ];
  }
  return [];
}

async function nearestExisting(dir: string): Promise<{ path: string; info: import("node:fs").Stats }> {
  for (let at = path.dirname(dir); ; at = path.dirname(at)) {
    const info = await stat(at).catch(() => null);
    if (info !== null) return { path: at, info };
  }
}

const writable = (p: string) =>
  access(p, constants.W_OK | constants.X_OK).then(
    () => true,
    () => false,
  );

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;
