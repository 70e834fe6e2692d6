/** `receive --help`. */
export const RECEIVE_USAGE = `usage: opencode-callback-relay receive [--port N] [--host H] [--secret whsec_…]… [--token T] [--json]

A local receiver for trying the relay out: accepts POST on any path, checks the bearer token and
Standard Webhooks signatures when given, answers 200 like the OpenClaw gateway, and prints each
callback it accepts (refused requests go to stderr). Runs until Ctrl-C.
  --port N         TCP port (default 8787; 0 picks a free one)
  --host H         address to listen on (default 127.0.0.1)
  --secret whsec_… a Standard Webhooks secret every request must be signed with (repeatable)
  --token T        a bearer token every request must carry (Authorization or x-openclaw-token)
  --json           one JSON object per accepted callback on stdout, nothing else there
                   (the "listening on" line goes to stderr)

exit: 0 stopped by SIGINT/SIGTERM, 1 cannot listen, 2 usage error
`;
