import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Action, actionLine } from "../action-line.ts";
import type { CliCommand, CliIO } from "../cli-io.ts";
import { BUNDLE_FILE_NAME, type ConfigDir, findConfigDir } from "../find-config-dir.ts";
import { mergeIntoJsonc, parseJsonc } from "../jsonc-edit.ts";
import { parseArgs } from "../parse-command-args.ts";
import {
  findPluginRegistrations,
  type PluginRegistration,
  removePluginEntries,
} from "../plugin-registrations.ts";
import { readIfExists } from "../read-if-exists.ts";
import { STARTER_CONFIG } from "../starter-config.ts";

const USAGE = `usage: opencode-callback-relay install [--config-dir DIR | --project DIR] [--repair] [--force] [--dry-run]

Copies the plugin bundle into <dir>/plugins/ and writes a starter <dir>/callback-relay.jsonc.
  --config-dir DIR  an OpenCode config dir (default: $XDG_CONFIG_HOME/opencode or ~/.config/opencode)
  --project DIR     the project's own config dir, DIR/.opencode
  --repair          if opencode.json(c) also lists the plugin in its "plugin" array, move that entry's
                    options into callback-relay.jsonc and remove the entry (comments kept)
  --force           --repair, and overwrite an existing callback-relay.jsonc with the starter
  --dry-run         print what would change, write nothing
`;

/** Env var naming the bundle to copy, for runs from source (tests) where dist/ is not beside the code. */
export const BUNDLE_ENV = "OPENCODE_CALLBACK_RELAY_BUNDLE";

/** One file install writes (or leaves), decided before anything is written. */
interface Step {
  action: Action;
  file: string;
  note?: string;
  /** New contents; absent when the file is left as it is. */
  contents?: string | Buffer;
  mode?: number;
}

/**
 * `opencode-callback-relay install`: puts the bundle into an OpenCode config dir's plugin folder
 * and a starter configuration beside it. Idempotent; refuses (exit 1) when the config dir's
 * `plugin` array also loads the plugin, unless `--repair`/`--force` moves it over.
 */
export const install: CliCommand = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: {
      "config-dir": { type: "string" },
      project: { type: "string" },
      repair: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const target = findConfigDir(values, io);
  const bundleSource = bundlePath(io);
  const bundle = await readIfExists(bundleSource, null);
  if (bundle === undefined) {
    io.stderr(`install: the plugin bundle ${bundleSource} does not exist: run \`npm run build\` first\n`);
    return 1;
  }

  const registrations = await findPluginRegistrations(target.opencodeConfigs);
  if (registrations.length > 0 && !values.repair && !values.force) {
    io.stderr(doubleRegistration(registrations, target));
    return 1;
  }

  // Order matters for a crash half-way: options land in callback-relay.jsonc before the plugin
  // entry that held them goes, and the folder copy comes last, once nothing else loads the plugin.
  const steps = [
    await configStep(target, registrations, values.force),
    ...(await repairSteps(registrations)),
    await bundleStep(target.pluginFile, bundle),
  ];
  const dryRun = values["dry-run"];
  for (const step of steps) {
    if (!dryRun && step.contents !== undefined) await writeFileAtomic(step.file, step.contents, step.mode);
    io.stdout(actionLine(step.action, step.file, step.note, dryRun));
  }
  const changed = steps.some((step) => step.contents !== undefined);
  if (!changed) io.stdout(`nothing to change: already installed in ${target.dir}\n`);
  else if (dryRun) io.stdout("dry run: nothing was written\n");
  io.stdout(NEXT_STEPS);
  return 0;
};

const NEXT_STEPS = `
next:
  - set OPENCLAW_HOOKS_TOKEN (the gateway's hooks.token) in the environment of \`opencode serve\`
  - on the OpenClaw gateway: hooks.enabled=true, hooks.token, hooks.allowRequestSessionKey=true,
    hooks.allowedSessionKeyPrefixes including "agent:main:" and "hook:"
  - restart \`opencode serve\` so it loads the plugin
`;

function bundlePath(io: CliIO): string {
  const injected = io.env[BUNDLE_ENV];
  if (injected) return path.resolve(io.cwd, injected);
  // In the bundled dist/cli.js this is dist/opencode-callback-relay.js, built beside it.
  return fileURLToPath(new URL(`./${BUNDLE_FILE_NAME}`, import.meta.url));
}

async function configStep(
  target: ConfigDir,
  registrations: PluginRegistration[],
  force: boolean,
): Promise<Step> {
  const file = target.configFile;
  const existing = await readIfExists(file);
  const base = existing === undefined || force ? STARTER_CONFIG : existing;
  const moved = registrations.flatMap((r) => (r.options ? [r.options] : []));
  if (moved.length > 0) parseJsonc(file, base);
  // The tuple's options were what the user meant the plugin to run with, so they win over the file.
  const contents = moved.reduce((text, options) => mergeIntoJsonc(text, options), base);
  // 0600: after a repair the file may hold a literal token that was in the tuple.
  const write = { contents, mode: 0o600 };
  const movedNote = "options moved in from the plugin array";
  if (existing === undefined) {
    return { action: "created", file, ...(moved.length > 0 && { note: movedNote }), ...write };
  }
  if (contents === existing) {
    return base === STARTER_CONFIG
      ? { action: "unchanged", file }
      : { action: "skipped", file, note: "exists, kept; --force overwrites it with the starter" };
  }
  if (moved.length > 0) return { action: "repaired", file, note: movedNote, ...write };
  return { action: "updated", file, note: "overwritten with the starter (--force)", ...write };
}

async function repairSteps(registrations: PluginRegistration[]): Promise<Step[]> {
  const files = [...new Set(registrations.map((r) => r.file))];
  return Promise.all(
    files.map(async (file): Promise<Step> => {
      const entries = registrations.filter((r) => r.file === file);
      const text = (await readIfExists(file)) ?? "";
      const contents = removePluginEntries(
        text,
        entries.map((r) => r.index),
      );
      const note = `removed plugin entry ${entries.map((r) => JSON.stringify(r.spec)).join(", ")}`;
      return { action: "repaired", file, note, contents, mode: (await stat(file)).mode & 0o777 };
    }),
  );
}

async function bundleStep(file: string, bundle: Buffer): Promise<Step> {
  const existing = await readIfExists(file, null);
  if (existing === undefined) return { action: "created", file, contents: bundle };
  if (existing.equals(bundle)) return { action: "unchanged", file };
  return { action: "updated", file, contents: bundle };
}

/** Write beside, then rename: a starting OpenCode never loads half a bundle or half a config. */
async function writeFileAtomic(file: string, contents: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, contents, { mode });
  await rename(temporary, file);
}

function doubleRegistration(registrations: PluginRegistration[], target: ConfigDir): string {
  const entries = registrations
    .map((r) => `  ${r.file}: ${JSON.stringify(r.spec)}${r.options ? " with options" : ""}\n`)
    .join("");
  return `install: the plugin is already registered in an OpenCode "plugin" array:
${entries}
With the bundle also in ${path.dirname(target.pluginFile)}, OpenCode would load the folder copy and
silently drop the options of that entry. Register it one way only. Either:
  - re-run with --repair: moves the entry's options into ${target.configFile}
    and removes the entry from the "plugin" array (comments kept); or
  - keep the "plugin" array registration and do not install the folder copy
    (configure through the entry's options).
Nothing was changed.
`;
}
