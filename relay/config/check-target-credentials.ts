import { RelayError } from "../errors/index.ts";
import type { RelayConfig } from "./config-schema.ts";

type Target = Pick<RelayConfig["target"], "url" | "token" | "secret">;

/**
 * White space and control characters: never part of a real token, but a secret file or a
 * Kubernetes secret often ends in a newline, and undici then refuses the header as a network
 * error ("is the gateway running?") instead of saying what is wrong.
 */
const BAD_CREDENTIAL_CHARACTER = /[\s\p{Cc}]/u;

/**
 * Query parameter names that carry a credential, compared after lower-casing and removing
 * `-`, `_` and `.`: `token`, `access_token`, `api-key`, `sig`, `X-Amz-Signature`… A URL is
 * written into every attempt record and echoed by receivers, so a credential in it reaches the
 * audit log; OpenClaw refuses `?token=` with a 400 anyway. Other parameters are allowed.
 */
const CREDENTIAL_PARAMETER =
  /(?:token|secret|password|passwd|pwd|key|auth|authorization|credentials?|signature|sig|jwt|bearer)$/;

/**
 * Refuse credentials where they would be mishandled, at load time (before anything is sent):
 * white space or control characters in `target.token` / `target.secret` (checked after `{env:…}`
 * substitution), and userinfo (`user:pass@`) or a credential-like query parameter in `target.url`.
 * Messages name the key and the position, never the value.
 *
 * @param file the configuration file, named in the message; null when plugin options alone configured it.
 * @throws RelayError CONFIG_INVALID with `details.key` the offending key (`target.token`,
 *   `target.secret[1]`, `target.url`).
 */
export function checkTargetCredentials(target: Target, file: string | null): void {
  const where = file === null ? "plugin options" : file;
  const credentials: Array<[string, string]> = [];
  if (target.token !== undefined) credentials.push(["target.token", target.token]);
  if (typeof target.secret === "string") credentials.push(["target.secret", target.secret]);
  else if (Array.isArray(target.secret))
    target.secret.forEach((secret, i) => {
      credentials.push([`target.secret[${i}]`, secret]);
    });
  for (const [key, value] of credentials) {
    const match = BAD_CREDENTIAL_CHARACTER.exec(value);
    if (!match) continue;
    const codePoint = `U+${(match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
    const position = match.index === value.length - 1 ? "at its end" : `at index ${match.index}`;
    throw new RelayError(
      "CONFIG_INVALID",
      `invalid configuration: ${key} (in ${where}) holds white space or a control character (${codePoint}) ${position}; a token never does`,
      {
        hint: `remove the white space from ${key}: a value read from a secret file (a Kubernetes secret, \`echo … > file\`) often ends in a trailing newline; strip it, or write the file with \`printf %s\``,
        details: { file, key, codePoint, index: match.index },
      },
    );
  }

  const url = new URL(target.url);
  if (url.username !== "" || url.password !== "") {
    throw new RelayError(
      "CONFIG_INVALID",
      `invalid configuration: target.url (in ${where}) carries credentials in its user-info part (user:pass@); they would be written into every attempt record`,
      {
        hint: "remove user:pass@ from target.url and put the gateway's token in target.token (as {env:NAME}); it is sent as Authorization: Bearer",
        details: { file, key: "target.url", part: "userinfo" },
      },
    );
  }
  for (const name of url.searchParams.keys()) {
    if (!CREDENTIAL_PARAMETER.test(name.toLowerCase().replace(/[-_.]/g, ""))) continue;
    throw new RelayError(
      "CONFIG_INVALID",
      `invalid configuration: target.url (in ${where}) has the query parameter ${JSON.stringify(name)}, which looks like a credential; the URL is written into every attempt record (and OpenClaw refuses ?token= with a 400)`,
      {
        hint: "remove the credential from target.url's query and put it in target.token (as {env:NAME}); it is sent as Authorization: Bearer",
        details: { file, key: "target.url", part: "query", parameter: name },
      },
    );
  }
}
