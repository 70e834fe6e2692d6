import type { Plugin } from "@opencode-ai/plugin";
import { createHooks } from "./create-hooks.ts";

/**
 * The OpenCode plugin: one audited callback per tagged run, to the caller session its title names.
 *
 * This is the bundle's only export, on purpose: OpenCode calls every export of a plugin file as a
 * plugin, so a second export (a helper, a version constant) would break loading or every prompt.
 * The rest of the public surface lives in relay/ and the CLI.
 */
export const CallbackRelayPlugin: Plugin = async (input, options) =>
  createHooks(input, options, import.meta.url);
