import { mkdtemp, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayError } from "../../../relay/errors/errors.ts";
import { lazyDirs } from "../../../relay/state/lazy-dirs.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-lazy-dirs-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const fail = (error: unknown) => new RelayError("STATE_UNWRITABLE", "cannot create", { cause: error });

describe("lazyDirs", () => {
  it("creates nothing until called, then every folder private (0700)", async () => {
    const ensure = lazyDirs([join(dir, "a", "b"), join(dir, "c")], fail);
    await expect(stat(join(dir, "c"))).rejects.toMatchObject({ code: "ENOENT" });
    await ensure();
    expect((await stat(join(dir, "a", "b"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "c"))).mode & 0o777).toBe(0o700);
  });

  it("passes a failure through `fail` and tries again on the next call once the disk is fixed", async () => {
    const blocker = join(dir, "state");
    await writeFile(blocker, "a file where a folder belongs");
    const ensure = lazyDirs([join(blocker, "outbox")], fail);
    await expect(ensure()).rejects.toMatchObject({ code: "STATE_UNWRITABLE" });
    await unlink(blocker);
    await ensure();
    expect((await stat(join(blocker, "outbox"))).isDirectory()).toBe(true);
  });
});
