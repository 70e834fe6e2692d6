import { readdir, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultConfigDir } from "../../../relay/index.ts";
import { findPluginRegistrations } from "../plugin-registrations.ts";
import { check, type DoctorCheck } from "./doctor-check.ts";

type Env = Record<string, string | undefined>;

/** One way OpenCode would load the plugin. */
export interface Registration {
  /** `folder`: a file in `<dir>/plugin(s)/`, loaded without options; `array`: an opencode.json `plugin` entry. */
  kind: "folder" | "array";
  /** The plugin file (folder) or the opencode.json(c) holding the entry (array). */
  file: string;
  /** The array entry's options (OpenCode's 2nd plugin argument). */
  options?: Record<string, unknown>;
  /** Where that copy of the plugin reads callback-relay.jsonc: the config dir above its plugin folder. */
  configDir: string;
}

/** The plugin's name in a file name, an npm name or a path. */
const NAME = "opencode-callback-relay";

/**
 * The config dirs OpenCode 1.18 scans for `{plugin,plugins}/*.{ts,js}` and the config files whose
 * `plugin` array it reads, for a server started in `projectDir` (facts: "Loading"): the global dir
 * (`$XDG_CONFIG_HOME/opencode`), `~/.opencode`, every `.opencode` and `opencode.json(c)` from
 * `projectDir` up to the git root (just `projectDir` outside git), and `$OPENCODE_CONFIG_DIR`.
 */
export async function openCodeConfigPlaces(
  projectDir: string,
  env: Env,
  extraDir?: string,
): Promise<{ dirs: string[]; configFiles: string[] }> {
  const global = defaultConfigDir(env);
  const dirs = [global, path.join(env.HOME || os.homedir(), ".opencode")];
  const configFiles = ["config.json", "opencode.json", "opencode.jsonc"].map((n) => path.join(global, n));
  for (const level of await levelsToGitRoot(projectDir)) {
    dirs.push(path.join(level, ".opencode"));
    configFiles.push(path.join(level, "opencode.json"), path.join(level, "opencode.jsonc"));
  }
  for (const dir of [env.OPENCODE_CONFIG_DIR, extraDir]) if (dir) dirs.push(path.resolve(dir));
  if (env.OPENCODE_CONFIG) configFiles.push(path.resolve(env.OPENCODE_CONFIG));
  for (const dir of dirs.slice(1))
    configFiles.push(path.join(dir, "opencode.json"), path.join(dir, "opencode.jsonc"));
  return { dirs: [...new Set(dirs)], configFiles: [...new Set(configFiles)] };
}

/** Every registration of this plugin that OpenCode would load from `places`. */
export async function findRegistrations(places: { dirs: string[]; configFiles: string[] }, env: Env) {
  const found: Registration[] = [];
  for (const dir of places.dirs) {
    for (const folder of ["plugin", "plugins"]) {
      const names = await readdir(path.join(dir, folder)).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (!/\.(?:js|ts)$/.test(name) || !name.includes(NAME)) continue;
        const file = path.join(dir, folder, name);
        if ((await stat(file).catch(() => null))?.isFile())
          found.push({ kind: "folder", file, configDir: dir });
      }
    }
  }
  for (const entry of await findPluginRegistrations(places.configFiles)) {
    const target = resolveSpec(entry.spec, entry.file);
    const parent = target === undefined ? undefined : path.dirname(target);
    const configDir =
      parent !== undefined && ["plugin", "plugins"].includes(path.basename(parent))
        ? path.dirname(parent)
        : defaultConfigDir(env);
    found.push({
      kind: "array",
      file: entry.file,
      configDir,
      ...(entry.options === undefined ? {} : { options: entry.options }),
    });
  }
  return found;
}

/**
 * ✓ exactly one registration; ✗ none, or several (each loads: a global and a project copy, or a
 * folder copy and an array entry, whose options OpenCode then silently drops).
 */
export function checkRegistrations(found: readonly Registration[]): DoctorCheck {
  const where = (r: Registration) => (r.kind === "folder" ? r.file : `${r.file} "plugin" array`);
  if (found.length === 0) {
    return check("registrations", "fail", "OpenCode would not load the plugin: no registration found", {
      fix: "run `opencode-callback-relay install` (all projects) or `install --project DIR` (one project)",
    });
  }
  if (found.length === 1) return check("registrations", "ok", `plugin registered once: ${where(found[0]!)}`);
  const folder = found.find((r) => r.kind === "folder");
  const withOptions = found.find((r) => r.kind === "array" && r.options !== undefined);
  if (folder !== undefined && withOptions !== undefined) {
    return check(
      "registrations.options-dropped",
      "fail",
      `the option-dropping trap: ${folder.file} is loaded AND ${withOptions.file} lists the plugin with options; OpenCode loads the folder copy and silently drops those options`,
      { fix: `opencode-callback-relay install --repair --config-dir ${path.dirname(withOptions.file)}` },
    );
  }
  return check(
    "registrations",
    "fail",
    `the plugin is registered ${found.length} times: ${found.map(where).join("; ")}`,
    {
      fix: "keep one: `opencode-callback-relay uninstall --config-dir DIR` (or --project DIR) for the others",
    },
  );
}

/**
 * A `plugin` array entry's options as the plugin receives them: OpenCode substitutes `{env:NAME}`
 * in opencode.json itself (an unset variable becomes ""), so the relay never sees the reference.
 */
export function optionsAsOpenCodePasses(options: unknown, env: Env): unknown {
  if (typeof options === "string")
    return options.replace(/\{env:([^}]+)\}/g, (_, name: string) => env[name] ?? "");
  if (Array.isArray(options)) return options.map((item) => optionsAsOpenCodePasses(item, env));
  if (typeof options === "object" && options !== null) {
    return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, optionsAsOpenCodePasses(v, env)]));
  }
  return options;
}

function resolveSpec(spec: string, configFile: string): string | undefined {
  if (spec.startsWith("file://")) {
    try {
      return fileURLToPath(spec);
    } catch {
      return undefined;
    }
  }
  // An npm name: OpenCode installs it into its own cache, not a plugin folder.
  if (!spec.startsWith(".") && !path.isAbsolute(spec)) return undefined;
  return path.resolve(path.dirname(configFile), spec);
}

async function levelsToGitRoot(start: string): Promise<string[]> {
  const levels: string[] = [];
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    levels.push(dir);
    if (await stat(path.join(dir, ".git")).catch(() => null)) return levels;
    if (path.dirname(dir) === dir) return [path.resolve(start)];
  }
}
