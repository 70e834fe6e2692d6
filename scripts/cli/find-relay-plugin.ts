/** What the relay's registration looks like in OpenCode's merged `plugin` list. */
const RELAY_SPEC = /(?:^|[/@:])opencode-callback-relay(?:\.js|@[^/]*)?$/;

/**
 * The entry of OpenCode's merged `plugin` configuration (`GET /config`) that loads this relay, or
 * null. OpenCode lists there both the `plugin` array of every opencode.json(c) and the files it
 * found in `{plugin,plugins}/` folders (as `file://` URLs); an entry is a spec or a
 * `[spec, options]` tuple. The relay is recognised by name: the installed file
 * `opencode-callback-relay.js`, the npm package `opencode-callback-relay[@version]`, or a path
 * ending in it.
 */
export function findRelayPlugin(plugins: unknown): string | null {
  if (!Array.isArray(plugins)) return null;
  for (const entry of plugins) {
    const spec = Array.isArray(entry) ? entry[0] : entry;
    if (typeof spec === "string" && RELAY_SPEC.test(spec.replace(/[?#].*$/, ""))) return spec;
  }
  return null;
}
