import path from "node:path";
import { CONFIG_FILE_NAME, defaultConfigDir } from "../../relay/index.ts";
import type { CliIO } from "./cli-io.ts";
import { UsageError } from "./usage-error.ts";

/** The `--config-dir` / `--project` flags shared by install and uninstall. */
export interface ConfigDirFlags {
  "config-dir"?: string | undefined;
  project?: string | undefined;
}

/** An OpenCode config dir to install into, and the OpenCode config files whose `plugin` array could also load the plugin. */
export interface ConfigDir {
  /** Absolute path of the folder that gets `plugins/` and `callback-relay.jsonc`. */
  dir: string;
  /** Where the bundle goes: a `plugins/*.js` file, which OpenCode loads from every config dir it scans. */
  pluginFile: string;
  /** The relay's own configuration, read by the plugin from the same config dir. */
  configFile: string;
  /** `opencode.json` / `opencode.jsonc` candidates (they may not exist), in OpenCode's precedence order. */
  opencodeConfigs: string[];
}

/**
 * Where install and uninstall act: `--config-dir` as given, `<project>/.opencode` for `--project`
 * (a folder OpenCode scans for plugins), else the user's global OpenCode config dir.
 * Relative paths resolve against `io.cwd`.
 *
 * For `--project`, the project root's own `opencode.json(c)` is checked too: its `plugin`
 * array loads into the same instance as `.opencode/plugins/`, so it can double-register.
 */
export function findConfigDir(flags: ConfigDirFlags, io: CliIO): ConfigDir {
  const configDir = flags["config-dir"];
  const project = flags.project;
  if (configDir !== undefined && project !== undefined) {
    throw new UsageError("--config-dir and --project name the target twice: give one of them");
  }
  const configsIn = (folder: string) => ["opencode.json", "opencode.jsonc"].map((n) => path.join(folder, n));
  if (project !== undefined) {
    const root = path.resolve(io.cwd, project);
    const dir = path.join(root, ".opencode");
    return { ...filesIn(dir), opencodeConfigs: [...configsIn(root), ...configsIn(dir)] };
  }
  const dir = path.resolve(io.cwd, configDir ?? defaultConfigDir(io.env));
  // The global config dir also reads the older config.json (seen in opencode 1.18.33's loader).
  return { ...filesIn(dir), opencodeConfigs: [path.join(dir, "config.json"), ...configsIn(dir)] };
}

/** The bundle's file name, in dist/ and in the plugin folder alike. */
export const BUNDLE_FILE_NAME = "opencode-callback-relay.js";

function filesIn(dir: string): Pick<ConfigDir, "dir" | "pluginFile" | "configFile"> {
  return {
    dir,
    pluginFile: path.join(dir, "plugins", BUNDLE_FILE_NAME),
    configFile: path.join(dir, CONFIG_FILE_NAME),
  };
}
