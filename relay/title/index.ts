export { buildTitle } from "./build-title.ts";
export { hasRunId, parseTitle, rawRunId } from "./parse-title.ts";
export { type RunIdentity, runIdentity } from "./run-identity.ts";
export {
  KNOWN_TAG_KEYS,
  type KnownTagKey,
  type ParsedTitle,
  ROUTING_TAG_KEYS,
  type TitleTags,
} from "./title-tags.ts";
