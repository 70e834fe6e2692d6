import { readFile } from "node:fs/promises";

/** A file's text, or undefined when it does not exist; any other failure (permissions, a folder) throws. */
export async function readIfExists(file: string): Promise<string | undefined>;
/** A file's bytes, or undefined when it does not exist; any other failure throws. */
export async function readIfExists(file: string, encoding: null): Promise<Buffer | undefined>;
export async function readIfExists(
  file: string,
  encoding: "utf8" | null = "utf8",
): Promise<string | Buffer | undefined> {
  try {
    return encoding === null ? await readFile(file) : await readFile(file, encoding);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
