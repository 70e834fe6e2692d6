import { RelayError } from "../errors/index.ts";
import { mapStrings } from "./map-strings.ts";

export { isPlainObject } from "./is-plain-object.ts";

/** OpenCode's own `{env:NAME}` syntax, so one habit works in opencode.json and here. */
const ENV_REFERENCE = /\{env:([^}]+)\}/g;

/** Where the variables came from, as messages name it. */
export const OPENCODE_ENVIRONMENT = "the environment of the OpenCode process";

/** The result of {@link substituteEnv} and substituteFiles: the new tree and every value put in (for redaction). */
export interface Substituted {
  value: unknown;
  /** Non-empty values that were substituted, in order of first use. */
  secrets: string[];
}

/**
 * Replace `{env:NAME}` inside every string value of a parsed JSON tree (keys are left alone).
 * Done after parsing, so a value holding quotes or backslashes cannot break the syntax.
 *
 * @param file named in the error, with the key path of the reference.
 * @param environment names the environment in the error: the plugin reads OpenCode's, the CLI
 *   its shell's, and telling someone to fix the wrong one wastes their time.
 *   @default OPENCODE_ENVIRONMENT
 * @throws RelayError CONFIG_ENV_MISSING when a referenced variable is unset (an empty value
 *   counts as set: the schema then says what the key expects).
 */
export function substituteEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  file: string,
  environment: string = OPENCODE_ENVIRONMENT,
): Substituted {
  const secrets = new Set<string>();
  const substituted = mapStrings(value, (text, key) =>
    text.replace(ENV_REFERENCE, (_, name: string) => {
      const found = env[name];
      if (found === undefined) {
        throw new RelayError(
          "CONFIG_ENV_MISSING",
          `${file}: ${key || "(root)"} refers to {env:${name}}, but ${name} is not set in ${environment}`,
          {
            hint: `set ${name} in ${environment}, or change the reference`,
            details: { file, key, variable: name, environment },
          },
        );
      }
      if (found !== "") secrets.add(found);
      return found;
    }),
  );
  return { value: substituted, secrets: [...secrets] };
}
