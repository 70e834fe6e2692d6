import { readFileSync } from "node:fs";
import { RelayError } from "../errors/index.ts";
import { resolveUserPath } from "./default-paths.ts";
import { mapStrings } from "./map-strings.ts";
import type { Substituted } from "./substitute-env.ts";

/** OpenCode's `{file:PATH}` syntax (its config.ts), so a token file works here as in opencode.json. */
const FILE_REFERENCE = /\{file:([^}]+)\}/g;

/**
 * Replace `{file:PATH}` inside every string value of a parsed JSON tree with that file's content,
 * trimmed, as OpenCode does: PATH is relative to the configuration file's folder, `~/` is the home
 * directory, and the content is inserted as is (it is not searched for further references).
 * Run after {@link substituteEnv}, as OpenCode does, so `{file:{env:SECRETS}/token}` works.
 *
 * Every content put in counts as a secret: `{file:…}` is how token files are referenced.
 *
 * @param baseDir the configuration file's folder.
 * @param file named in the error, with the key path of the reference.
 * @throws RelayError CONFIG_FILE_MISSING when a referenced file does not exist; CONFIG_UNREADABLE
 *   when it exists but cannot be read (permissions, a directory).
 */
export function substituteFiles(
  value: unknown,
  baseDir: string,
  env: Record<string, string | undefined>,
  file: string,
): Substituted {
  const secrets = new Set<string>();
  const substituted = mapStrings(value, (text, key) =>
    text.replace(FILE_REFERENCE, (_, reference: string) => {
      const target = resolveUserPath(reference, baseDir, env);
      const content = readReferenced(target, reference, key || "(root)", file).trim();
      if (content !== "") secrets.add(content);
      return content;
    }),
  );
  return { value: substituted, secrets: [...secrets] };
}

function readReferenced(target: string, reference: string, key: string, file: string): string {
  try {
    return readFileSync(target, "utf8");
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    const details = { file, key, reference, path: target, errno };
    if (errno === "ENOENT" || errno === "ENOTDIR") {
      throw new RelayError(
        "CONFIG_FILE_MISSING",
        `${file}: ${key} refers to {file:${reference}}, but ${target} does not exist`,
        {
          hint: `create ${target}, or fix the path (relative paths start at the configuration file's folder)`,
          details,
        },
      );
    }
    throw new RelayError(
      "CONFIG_UNREADABLE",
      `${file}: ${key} refers to {file:${reference}}, but ${target} cannot be read (${errno ?? String(error)})`,
      { cause: error, details },
    );
  }
}
