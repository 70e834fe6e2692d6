import { RelayError } from "../errors/index.ts";

/** OpenCode's own `{env:NAME}` syntax, so one habit works in opencode.json and here. */
const ENV_REFERENCE = /\{env:([^}]+)\}/g;

/** The result of {@link substituteEnv}: the new tree and every value put in (for redaction). */
export interface Substituted {
  value: unknown;
  /** Non-empty values of the variables that were substituted, in order of first use. */
  secrets: string[];
}

/**
 * Replace `{env:NAME}` inside every string value of a parsed JSON tree (keys are left alone).
 * Done after parsing, so a value holding quotes or backslashes cannot break the syntax.
 *
 * @param file named in the error, with the key path of the reference.
 * @param envOwner whose environment `env` is, named in the error so the fix lands in the right
 *   place (the CLI reads its own shell's, not OpenCode's). @default "the OpenCode process"
 * @throws RelayError CONFIG_ENV_MISSING when a referenced variable is unset (an empty value
 *   counts as set: the schema then says what the key expects).
 */
export function substituteEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  file: string,
  envOwner = "the OpenCode process",
): Substituted {
  const secrets = new Set<string>();
  const walk = (node: unknown, key: string): unknown => {
    if (typeof node === "string") {
      return node.replace(ENV_REFERENCE, (_, name: string) => {
        const found = env[name];
        if (found === undefined) {
          throw new RelayError(
            "CONFIG_ENV_MISSING",
            `${file}: ${key || "(root)"} refers to {env:${name}}, but ${name} is not set in the environment of ${envOwner}`,
            {
              details: { file, key, variable: name, environment: envOwner },
              hint: `set ${name} in the environment of ${envOwner}`,
            },
          );
        }
        if (found !== "") secrets.add(found);
        return found;
      });
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, `${key}[${index}]`));
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) {
        if (k === "__proto__") continue;
        out[k] = walk(v, key ? `${key}.${k}` : k);
      }
      return out;
    }
    return node;
  };
  const substituted = walk(value, "");
  return { value: substituted, secrets: [...secrets] };
}

/** A non-null, non-array object: what JSON calls an object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
