import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../scripts/cli/cli.ts";
import { type CapturedIO, captureIO } from "../helpers/capture-io.ts";
import { type RecordingReceiver, startRecordingReceiver } from "../helpers/recording-receiver.ts";

/** What dispatch refuses before or without a working opencode serve (the runs themselves: test/e2e/dispatch.test.ts). */

let tmp: string;
let io: CapturedIO;
let server: RecordingReceiver;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "ocr-dispatch-"));
  io = captureIO(tmp, { HOME: tmp, XDG_CONFIG_HOME: path.join(tmp, "xdg") });
  server = await startRecordingReceiver();
});
afterEach(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

const base = () => [
  "dispatch",
  "--server",
  server.url,
  "--callback-session",
  "agent:main:main",
  "--prompt",
  "hi",
];

describe("dispatch", () => {
  it("refuses a title the relay would refuse without contacting the server", async () => {
    const args = ["dispatch", "--server", server.url, "--callback-session", "agent", "--prompt", "hi"];
    expect(await main(args, io)).toBe(1);
    expect(io.err()).toContain("INTEGRITY_MALFORMED_CALLBACK_SESSION");
    expect(server.requests).toEqual([]);
  });

  it("refuses a callbackSession outside the prefixes of the configuration on this machine", async () => {
    const configDir = path.join(tmp, "cfg");
    await mkdir(configDir);
    await writeFile(
      path.join(configDir, "callback-relay.jsonc"),
      `{ "target": { "url": "http://127.0.0.1:1/hooks" }, "callbackSessionPrefixes": ["agent:main:"] }`,
    );
    const args = [...base(), "--callback-session", "hook:elsewhere", "--config-dir", configDir];
    expect(await main(args, io)).toBe(1);
    expect(io.err()).toContain("INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED");
    expect(server.requests).toEqual([]);
  });

  it("only warns about the prefixes when no configuration was read here (the server's relay decides)", async () => {
    server.respondWith(() => ({ status: 200, body: '{"plugin":[]}' }));
    const args = [...base(), "--callback-session", "hook:elsewhere"];
    expect(await main(args, io)).toBe(1);
    expect(io.err()).toContain("warning: INTEGRITY_CALLBACK_SESSION_NOT_ALLOWED");
    expect(server.requests.map((r) => r.path.split("?")[0])).toEqual(["/config"]);
  });

  it("reports DISPATCH_SERVER when the server cannot be reached", async () => {
    const url = server.url;
    await server.close();
    const args = ["dispatch", "--server", url, "--callback-session", "agent:main:main", "--prompt", "hi"];
    expect(await main(args, io)).toBe(1);
    expect(io.err()).toContain("DISPATCH_SERVER");
  });

  it("reports DISPATCH_SERVER when --server answers but is not an opencode serve", async () => {
    server.respondWith(() => ({ status: 200, body: "<html>a web page</html>" }));
    expect(await main(base(), io)).toBe(1);
    expect(io.err()).toContain("DISPATCH_SERVER");
    server.respondWith(() => ({ status: 404, body: "Not Found" }));
    expect(await main(base(), io)).toBe(1);
    expect(io.err()).not.toContain("DISPATCH_NO_RELAY");
  });

  it("refuses with DISPATCH_NO_RELAY when the server's configuration lists no relay plugin, and creates nothing", async () => {
    server.respondWith(() => ({ status: 200, body: '{"plugin":["file:///x/plugins/other.js"]}' }));
    expect(await main(base(), io)).toBe(1);
    expect(io.err()).toContain("DISPATCH_NO_RELAY");
    expect(server.requests.map((r) => `${r.method} ${r.path.split("?")[0]}`)).toEqual(["GET /config"]);
  });

  it("--json prints a refusal as JSON on stdout, with its code, and nothing on stderr", async () => {
    server.respondWith(() => ({ status: 200, body: '{"plugin":[]}' }));
    expect(await main([...base(), "--json"], io)).toBe(1);
    expect(io.err()).toBe("");
    expect(JSON.parse(io.out())).toMatchObject({ ok: false, code: "DISPATCH_NO_RELAY" });
  });

  it("--no-relay-check skips the check and goes on to create the session", async () => {
    server.respondWith(() => ({ status: 200, body: '{"plugin":[]}' }));
    await main([...base(), "--no-relay-check"], io);
    expect(server.requests[0]?.method).toBe("POST");
    expect(server.requests[0]?.path.split("?")[0]).toBe("/session");
  });

  it("reads the prompt from standard input with --prompt -, and refuses an empty one before any request", async () => {
    const quiet = { ...io, readStdin: async () => "  \n" };
    expect(await main([...base().slice(0, -1), "-"], quiet)).toBe(2);
    expect(server.requests).toEqual([]);
  });

  it.each([
    [["dispatch", "--callback-session", "agent:main:main", "--prompt", "hi"]],
    [["dispatch", "--server", "not a url", "--callback-session", "agent:main:main", "--prompt", "hi"]],
    [["dispatch", "--server", "http://127.0.0.1:1", "--callback-session", "agent:main:main"]],
    [
      [
        "dispatch",
        "--server",
        "http://127.0.0.1:1",
        "--callback-session",
        "agent:main:main",
        "--prompt",
        "x",
        "--timeout",
        "soon",
      ],
    ],
  ])("is a usage mistake (exit 2): %j", async (args) => {
    expect(await main(args, io)).toBe(2);
  });
});
