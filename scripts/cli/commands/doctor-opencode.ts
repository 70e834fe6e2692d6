import { execFile } from "node:child_process";
import { check, type DoctorCheck } from "./doctor-check.ts";

/** The OpenCode release the plugin's hooks were observed with (facts: opencode-runtime.md). */
export const TESTED_OPENCODE = "1.18.33";

/**
 * `opencode --version` of `bin` (default: `opencode` on the PATH of `env`): ✓ a 1.x from 1.18 on,
 * ! older 1.x or not found, ✗ 2.x, whose plugin API this bundle does not implement.
 */
export async function checkOpencode(
  bin: string | undefined,
  env: Record<string, string | undefined>,
): Promise<DoctorCheck> {
  const command = bin ?? "opencode";
  const output = await new Promise<string | Error>((resolve) => {
    execFile(command, ["--version"], { env, timeout: 30_000, encoding: "utf8" }, (error, stdout) =>
      resolve(error ?? stdout),
    );
  });
  if (output instanceof Error) {
    return check(
      "opencode",
      bin === undefined ? "warn" : "fail",
      `${command} --version failed: ${(output as NodeJS.ErrnoException).code ?? output.message}`,
      {
        fix:
          bin === undefined
            ? "put the opencode that runs `opencode serve` on PATH, or pass --opencode /path/to/opencode"
            : `check the path given to --opencode (${bin})`,
      },
    );
  }
  const version = /\d+\.\d+\.\d+\S*/.exec(output)?.[0];
  if (version === undefined) {
    return check("opencode", "warn", `${command} --version printed no version`, {
      fix: `run it by hand and compare with ${TESTED_OPENCODE}`,
    });
  }
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major >= 2) {
    return check(
      "opencode",
      "fail",
      `OpenCode ${version}: OpenCode 2 does not run this plugin (a 1.x plugin)`,
      {
        fix: `run opencode 1.x (tested with ${TESTED_OPENCODE}) until a 2.x entry ships`,
      },
    );
  }
  if (major < 1 || minor < 18) {
    return check("opencode", "warn", `OpenCode ${version} is older than the tested ${TESTED_OPENCODE}`, {
      fix: `upgrade OpenCode, or run a tagged session by hand and check its callback (doctor --send-test checks only the relay)`,
    });
  }
  return check("opencode", "ok", `OpenCode ${version} (tested with ${TESTED_OPENCODE})`);
}
