import type { RelayConfig } from "./config-schema.ts";

type TargetCredentials = Pick<RelayConfig["target"], "token" | "secret">;

/** The configured Standard Webhooks signing secrets, in order (the first is the newest). */
export function signingSecrets(target: TargetCredentials): string[] {
  const { secret } = target;
  return secret === undefined ? [] : Array.isArray(secret) ? secret : [secret];
}

/**
 * Every credential in the target's configuration (bearer token and signing secrets): what must
 * never reach the audit log, even when a receiver echoes it back.
 */
export function targetSecrets(target: TargetCredentials): string[] {
  const secrets = signingSecrets(target);
  return target.token === undefined ? secrets : [target.token, ...secrets];
}
