/**
 * The `callback-relay.jsonc` that install writes when there is none: the smallest configuration
 * that works against a local OpenClaw gateway, with the secret left in the environment.
 * The README's configuration reference lists every other key (relay/config-schema.ts).
 */
export const STARTER_CONFIG = `// opencode-callback-relay: where OpenCode runs tagged with runId=… call back to.
// Written by \`opencode-callback-relay install\`; edit freely: install never overwrites it without --force.
// "{env:NAME}" is replaced by the environment variable NAME of the OpenCode process, so the secret
// stays out of this file.
{
  "target": {
    // openclaw-agent: POST <url>/agent, the report runs as a turn inside the caller session.
    // openclaw-wake:  POST <url>/wake, the report is queued verbatim into the caller session.
    // webhook:        POST <url> itself, signed per Standard Webhooks with "secret".
    "kind": "openclaw-agent",
    // The gateway's hooks endpoint base: http://<host>:<gateway port><hooks.path>.
    "url": "http://127.0.0.1:18789/hooks",
    // The gateway's hooks.token: a dedicated token, not the gateway's own auth token.
    "token": "{env:OPENCLAW_HOOKS_TOKEN}"
  },
  // A title's callbackSession=… must start with one of these, or nothing is sent.
  // Mirror the gateway's hooks.allowedSessionKeyPrefixes.
  "callbackSessionPrefixes": ["agent:main:"]
}
`;
