import { webhookSecretKey } from "../../../relay/index.ts";
import type { CliCommand, CliIO } from "../cli-io.ts";
import { parseArgs } from "../parse-command-args.ts";
import { type ReceivedCallback, startReceiver } from "../start-receiver.ts";
import { aborted, stopSignal } from "../stop-signal.ts";
import { UsageError } from "../usage-error.ts";
import { RECEIVE_USAGE } from "./receive-usage.ts";

function readable(callback: ReceivedCallback): string {
  const time = new Date(callback.receivedAt).toISOString();
  const head = `[${time}] POST ${callback.path}  ${callback.kind}  outcome=${callback.outcome ?? "?"}  runId=${callback.runId ?? "?"}  session=${callback.callbackSession ?? "?"}`;
  const message = (callback.message ?? JSON.stringify(callback.body, null, 2)).replace(/^/gm, "    ");
  return `${head}\n${message}\n\n`;
}

/**
 * `receive` with an AbortSignal besides the process signals, so tests can stop it in-process.
 * Resolves with the exit code once the server has closed.
 */
export async function runReceive(
  args: string[],
  io: CliIO,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "8787" },
      host: { type: "string", default: "127.0.0.1" },
      secret: { type: "string", multiple: true },
      token: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(RECEIVE_USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65_535)
    throw new UsageError(`--port must be 0..65535, got ${values.port}`);
  const secrets = values.secret ?? [];
  try {
    for (const secret of secrets) webhookSecretKey(secret);
  } catch {
    throw new UsageError("--secret must be a Standard Webhooks secret: whsec_<base64>");
  }

  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  try {
    receiver = await startReceiver({
      port,
      host: values.host,
      secrets,
      ...(values.token === undefined ? {} : { token: values.token }),
      onCallback: (callback) => {
        const { body, ...line } = callback;
        io.stdout(
          values.json
            ? `${JSON.stringify({ ...line, time: new Date(callback.receivedAt).toISOString(), body })}\n`
            : readable(callback),
        );
      },
      onDuplicate: (duplicate) =>
        io.stderr(
          `[${new Date(duplicate.receivedAt).toISOString()}] repeated ${duplicate.path}: webhook-id ${duplicate.webhookId} already accepted with this body; answered 200 again\n`,
        ),
      onRejected: (rejected) =>
        io.stderr(
          `[${new Date(rejected.receivedAt).toISOString()}] refused ${rejected.path}: ${rejected.status} ${rejected.code}\n`,
        ),
    });
  } catch (error) {
    io.stderr(
      `receive: cannot listen on ${values.host}:${port}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
  // In JSON mode stdout carries callbacks only, so a consumer can parse every line.
  (values.json ? io.stderr : io.stdout)(`listening on ${receiver.url}\n`);

  await aborted(stopSignal(options.signal));
  await receiver.close();
  return 0;
}

/** `opencode-callback-relay receive [--port N] [--host H] [--secret whsec_…]… [--token T] [--json]` */
export const receive: CliCommand = (args, io) => runReceive(args, io);
