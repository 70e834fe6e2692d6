import { findNodeAtLocation, getNodeValue } from "jsonc-parser";
import { isPlainObject } from "../../relay/index.ts";
import { parseJsonc, removeArrayItem } from "./jsonc-edit.ts";
import { readIfExists } from "./read-if-exists.ts";

/** Matches the bundle's file name, an npm name or a `file://` URL naming this plugin. */
const PLUGIN_NAME = "opencode-callback-relay";

/** One entry of an OpenCode config's `plugin` array that loads this plugin. */
export interface PluginRegistration {
  /** The `opencode.json(c)` holding the entry. */
  file: string;
  /** Position in the `plugin` array. */
  index: number;
  /** The path, URL or npm name. */
  spec: string;
  /** The options object of a `["spec", {options}]` tuple: what OpenCode passes as the plugin's 2nd argument. */
  options?: Record<string, unknown>;
}

/**
 * The `plugin` array entries, across `files` (missing files are skipped), that load this plugin,
 * as a string or a `["spec", {options}]` tuple. With the bundle also in a plugin folder, OpenCode
 * loads the folder copy and silently drops the tuple's options: the reason install looks.
 *
 * @throws RelayError CONFIG_PARSE when a file is not valid JSONC.
 */
export async function findPluginRegistrations(files: readonly string[]): Promise<PluginRegistration[]> {
  const found: PluginRegistration[] = [];
  for (const file of files) {
    const text = await readIfExists(file);
    if (text === undefined) continue;
    const root = parseJsonc(file, text);
    const plugins = root && findNodeAtLocation(root, ["plugin"]);
    if (plugins?.type !== "array") continue;
    plugins.children?.forEach((node, index) => {
      const entry = registrationOf(getNodeValue(node));
      if (entry) found.push({ file, index, ...entry });
    });
  }
  return found;
}

/**
 * `text` (an OpenCode config) without the `plugin` array entries at `indexes`; comments and
 * layout elsewhere untouched.
 */
export function removePluginEntries(text: string, indexes: readonly number[]): string {
  // Highest first, so each removal leaves the lower indexes where they were.
  const descending = [...indexes].sort((a, b) => b - a);
  return descending.reduce((current, index) => removeArrayItem(current, ["plugin"], index), text);
}

function registrationOf(entry: unknown): Omit<PluginRegistration, "file" | "index"> | undefined {
  if (typeof entry === "string") return entry.includes(PLUGIN_NAME) ? { spec: entry } : undefined;
  if (!Array.isArray(entry) || typeof entry[0] !== "string" || !entry[0].includes(PLUGIN_NAME))
    return undefined;
  const options: unknown = entry[1];
  return isPlainObject(options) ? { spec: entry[0], options } : { spec: entry[0] };
}
