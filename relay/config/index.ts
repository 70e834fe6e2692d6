export { configSchema, type RelayConfig, type RelayConfigInput, type TargetKind } from "./config-schema.ts";
export {
  CONFIG_FILE_NAME,
  defaultAuditPath,
  defaultConfigDir,
  defaultStateDir,
  resolveUserPath,
} from "./default-paths.ts";
export { CONFIG_ENV_VAR, type LoadConfigResult, type LoadedConfig, loadConfig } from "./load-config.ts";
export { isPlainObject } from "./substitute-env.ts";
export { signingSecrets, targetSecrets } from "./target-secrets.ts";
