import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";

/**
 * Whether the module at `moduleUrl` (pass `import.meta.url`) is the script node was started with,
 * through any symlink, as npm's bin links are. A script guards its auto-run with it so that tests
 * can import it without running it.
 */
export function isProcessEntry(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return moduleUrl === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}
