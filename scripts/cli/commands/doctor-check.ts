import { tint } from "./audit-format.ts";

/** ✓ holds, ! could not be verified (the fix says how to verify it), ✗ a callback would not be delivered. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One line of `doctor`'s report. */
export interface DoctorCheck {
  /** Stable identifier (`config`, `env:NAME`, `registrations`, `gateway.allowRequestSessionKey`…), for --json and scripts. */
  id: string;
  status: CheckStatus;
  /** What holds, or what is wrong, in one line. */
  summary: string;
  /** What to do: for ✗ how to fix it, for ! how to verify it. */
  fix?: string;
  /** The RelayError code the plugin would record for the same problem, when there is one. */
  code?: string;
}

/** A check, without optional keys left undefined (exactOptionalPropertyTypes). */
export function check(
  id: string,
  status: CheckStatus,
  summary: string,
  more: { fix?: string | undefined; code?: string | undefined } = {},
): DoctorCheck {
  return {
    id,
    status,
    summary,
    ...(more.fix === undefined ? {} : { fix: more.fix }),
    ...(more.code === undefined ? {} : { code: more.code }),
  };
}

const MARK = { ok: "✓", warn: "!", fail: "✗" } as const;
const COLOUR = { ok: "green", warn: "yellow", fail: "red" } as const;

/** `✓ summary`, `✗ CODE summary` + an indented `fix:` line. */
export function renderCheck(c: DoctorCheck, color: boolean): string {
  const code = c.code === undefined ? "" : `${c.code}: `;
  const head = `${tint(color, COLOUR[c.status], MARK[c.status])} ${code}${c.summary}\n`;
  return c.fix === undefined ? head : `${head}    ${c.status === "warn" ? "verify" : "fix"}: ${c.fix}\n`;
}

/** Whether every check says a callback would be delivered: no ✗ (warnings are what could not be checked). */
export function allPass(checks: readonly DoctorCheck[], strict = false): boolean {
  return checks.every((c) => c.status === "ok" || (!strict && c.status === "warn"));
}
