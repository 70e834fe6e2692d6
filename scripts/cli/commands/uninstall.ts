import { rm } from "node:fs/promises";
import { actionLine } from "../action-line.ts";
import type { CliCommand, CliIO } from "../cli-io.ts";
import { findConfigDir } from "../find-config-dir.ts";
import { parseArgs } from "../parse-command-args.ts";
import { findPluginRegistrations } from "../plugin-registrations.ts";
import { readIfExists } from "../read-if-exists.ts";

const USAGE = `usage: opencode-callback-relay uninstall [--config-dir DIR | --project DIR] [--purge]

Removes the plugin bundle from <dir>/plugins/. Keeps <dir>/callback-relay.jsonc unless --purge.
The audit log and the outbox state are never touched: they are the record of past runs.
  --config-dir DIR  an OpenCode config dir (default: $XDG_CONFIG_HOME/opencode or ~/.config/opencode)
  --project DIR     the project's own config dir, DIR/.opencode
  --purge           remove callback-relay.jsonc too
`;

/**
 * `opencode-callback-relay uninstall`: undoes install. Idempotent: with nothing to remove it says
 * so and exits 0.
 */
export const uninstall: CliCommand = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: {
      "config-dir": { type: "string" },
      project: { type: "string" },
      purge: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const target = findConfigDir(values, io);

  let removed = await removeIfExists(target.pluginFile, io);
  if (values.purge) removed = (await removeIfExists(target.configFile, io)) || removed;
  else if ((await readIfExists(target.configFile)) !== undefined) {
    io.stdout(actionLine("kept", target.configFile, "--purge removes it"));
  }
  if (!removed) io.stdout(`nothing to remove: not installed in ${target.dir}\n`);

  // Not ours to edit without being asked: the user may mean to keep that registration.
  for (const registration of await findPluginRegistrations(target.opencodeConfigs)) {
    io.stdout(
      `note: ${registration.file} still loads the plugin through its "plugin" array (${JSON.stringify(registration.spec)}); remove that entry to stop it\n`,
    );
  }
  return 0;
};

async function removeIfExists(file: string, io: CliIO): Promise<boolean> {
  try {
    await rm(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  io.stdout(actionLine("removed", file));
  return true;
}
