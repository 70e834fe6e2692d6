import { resolve } from "node:path";
import { configSchema, loadConfig, type RelayConfig } from "../../relay/index.ts";
import { CLI_ENVIRONMENT, type CliIO } from "./cli-io.ts";

/** The part of the configuration a title is checked against, and where it came from. */
export interface TitlePolicy {
  policy: Pick<RelayConfig, "callbackSessionPrefixes" | "integrity">;
  /** The configuration file read, or null when the defaults were used. */
  file: string | null;
  /** Why the defaults were used although a configuration exists (its CONFIG_* code), else null. */
  problem: string | null;
}

/**
 * The caller-session policy (`callbackSessionPrefixes`, `integrity`) of the configuration the
 * plugin would load from `configDir` (or the usual place), else the defaults. Titles are checked
 * on this machine against it; the serve a run goes to may be configured differently.
 */
export async function loadPolicy(configDir: string | undefined, io: CliIO): Promise<TitlePolicy> {
  const loaded = await loadConfig({
    ...(configDir === undefined ? {} : { configDir: resolve(io.cwd, configDir) }),
    env: io.env,
    environment: CLI_ENVIRONMENT,
  });
  if (loaded.ok) {
    const { callbackSessionPrefixes, integrity } = loaded.value.config;
    return { policy: { callbackSessionPrefixes, integrity }, file: loaded.value.file, problem: null };
  }
  // Only the defaults matter here; the target is a placeholder the schema needs.
  const { callbackSessionPrefixes, integrity } = configSchema.parse({ target: { url: "http://127.0.0.1/" } });
  return {
    policy: { callbackSessionPrefixes, integrity },
    file: null,
    problem: loaded.error.code === "CONFIG_NOT_FOUND" ? null : loaded.error.code,
  };
}
