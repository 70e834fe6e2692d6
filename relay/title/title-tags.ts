/**
 * The routing contract carried in a session title. Known keys are parsed into `TitleTags`;
 * any other `key=value` token is kept in `extra` (audited, never used for routing).
 */
export const KNOWN_TAG_KEYS = [
  "runId",
  "taskId",
  "requested",
  "resolved",
  "callbackSession",
  "callbackSessionId",
  "projectId",
  "repoRoot",
] as const;

export type KnownTagKey = (typeof KNOWN_TAG_KEYS)[number];

/** Parsed tags: known keys that were present, decoded. */
export type TitleTags = { [K in KnownTagKey]?: string };

/** A parsed title: the free words before/between tags, the known tags, and unknown tags. */
export interface ParsedTitle {
  /** The free words (not `key=value` tokens), joined by single spaces. */
  text: string;
  tags: TitleTags;
  /** Unknown `key=value` tokens, decoded, in order of appearance (duplicates kept). */
  extra: Array<[key: string, value: string]>;
}

/** Routing fields whose change after first sight is an integrity error. */
export const ROUTING_TAG_KEYS = [
  "runId",
  "callbackSession",
  "callbackSessionId",
  "projectId",
  "repoRoot",
  "requested",
  "resolved",
  "taskId",
] as const satisfies readonly KnownTagKey[];

/** Longest title accepted, in UTF-16 code units. */
export const MAX_TITLE_LENGTH = 4096;
/** Longest decoded tag value accepted, in UTF-16 code units. */
export const MAX_TAG_VALUE_LENGTH = 1024;
