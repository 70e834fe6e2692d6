import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { doctor } from "../../scripts/cli/commands/doctor.ts";
import type { DoctorCheck } from "../../scripts/cli/commands/doctor-check.ts";
import { type FakeModel, startFakeModel } from "../../scripts/dev/fake-model.ts";
import { type OpencodeServer, startOpencodeServer } from "../../scripts/dev/opencode-server.ts";
import { waitFor } from "../../scripts/dev/wait-for.ts";
import { captureIO } from "../helpers/capture-io.ts";

/**
 * doctor's model of what OpenCode loads, checked against a real `opencode serve`: a copy of the
 * plugin in the global config dir and one in the project's `.opencode/plugins/` BOTH run (doctor's
 * ✗), and a folder copy gets no options. The "plugin" is a probe under the bundle's file name that
 * records each load and the options it was given.
 */

const PROBE = `import { appendFileSync } from "node:fs";
export const Probe = async (input, options) => {
  appendFileSync(process.env.PROBE_FILE, JSON.stringify({ from: import.meta.url, options: options ?? null }) + "\\n");
  return {};
};
`;

let model: FakeModel;
let server: OpencodeServer;
let scratch: string;
let probeFile: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "ocr-doctor-e2e-"));
  probeFile = path.join(scratch, "loads.jsonl");
  model = await startFakeModel();
  server = await startOpencodeServer({
    modelBaseURL: model.baseURL,
    bundlePath: null,
    extraPlugins: { "opencode-callback-relay.js": PROBE },
    env: { PROBE_FILE: probeFile },
  });
});

afterAll(async () => {
  await server?.stop();
  await model?.close();
  await rm(scratch, { recursive: true, force: true });
});

it("a global and a project copy both load in a real opencode serve, and doctor fails that setup", async () => {
  // The project copy, added before the project's first request (OpenCode starts plugins lazily).
  const projectConfig = path.join(server.projectDir, ".opencode");
  await mkdir(path.join(projectConfig, "plugins"), { recursive: true });
  await writeFile(path.join(projectConfig, "plugins", "opencode-callback-relay.js"), PROBE);
  // As the harness does for the global dir: OpenCode's own npm install there is already done.
  const dependencies = { "@opencode-ai/plugin": "*" };
  await mkdir(path.join(projectConfig, "node_modules"), { recursive: true });
  await writeFile(path.join(projectConfig, "package.json"), JSON.stringify({ dependencies }));
  await writeFile(
    path.join(projectConfig, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies } } }),
  );

  await server.createSession("wake the plugins");
  const loads = await waitFor(
    "both copies to load",
    () => {
      const lines = readFileSync(probeFile, { encoding: "utf8", flag: "a+" }).split("\n").filter(Boolean);
      return lines.length >= 2
        ? lines.map((l) => JSON.parse(l) as { from: string; options: unknown })
        : undefined;
    },
    60_000,
  );
  expect(loads.map((l) => l.from).sort()).toEqual(
    [
      `file://${path.join(server.configDir, "plugins", "opencode-callback-relay.js")}`,
      `file://${path.join(projectConfig, "plugins", "opencode-callback-relay.js")}`,
    ].sort(),
  );
  // Folder-scanned plugins get no options: what makes a folder copy next to an array entry a trap.
  expect(loads.every((l) => l.options === null)).toBe(true);

  const io = captureIO(server.projectDir, {
    HOME: server.home,
    XDG_CONFIG_HOME: path.dirname(server.configDir),
    XDG_DATA_HOME: server.dataHome,
    XDG_STATE_HOME: server.stateHome,
  });
  expect(await doctor(["--json"], io)).toBe(1);
  const { checks } = JSON.parse(io.out()) as { checks: DoctorCheck[] };
  expect(checks.find((c) => c.id === "registrations")?.status).toBe("fail");
});
