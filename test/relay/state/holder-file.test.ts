import { copyFile, link, mkdtemp, readdir, readFile, rm, symlink, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type HolderFile, holderFile } from "../../../relay/state/holder-file.ts";

let dir: string;
const opened: HolderFile[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ocr-holder-"));
});
afterEach(async () => {
  for (const file of opened.splice(0)) await file.close();
  await rm(dir, { recursive: true, force: true });
});

function open(name = "k.holder"): HolderFile {
  const file = holderFile(join(dir, name), () => JSON.stringify({ holder: name }));
  opened.push(file);
  return file;
}

describe("holderFile", () => {
  it("writes the holder whole, and calls made while a write is in flight share it", async () => {
    const file = open();
    await Promise.all(Array.from({ length: 8 }, () => file.write()));
    expect(await readdir(dir)).toEqual(["k.holder"]);
    expect(JSON.parse(await readFile(file.path, "utf8"))).toEqual({ holder: "k.holder" });
  });

  it("knows its links, and no copy of it or other keeper's holder file", async () => {
    const file = open();
    const other = open("o.holder");
    await file.write();
    await other.write();
    await link(file.path, join(dir, "a.lease"));
    await copyFile(file.path, join(dir, "copy.lease"));
    await link(other.path, join(dir, "b.lease"));
    expect(file.linksNow(join(dir, "a.lease"))).toBe(true);
    expect(file.linksNow(join(dir, "copy.lease"))).toBe(false);
    expect(file.linksNow(join(dir, "b.lease"))).toBe(false);
    expect(file.linksNow(join(dir, "missing.lease"))).toBe(false);
    // A symbolic link to the holder file was planted, never taken: lstat does not follow it.
    await symlink(file.path, join(dir, "planted.lease"));
    expect(file.linksNow(join(dir, "planted.lease"))).toBe(false);
  });

  it("still knows the links of a version whose name was removed and written again", async () => {
    const file = open();
    await file.write();
    await link(file.path, join(dir, "a.lease"));
    await unlink(file.path); // an operator, or a sweep
    await file.write();
    await link(file.path, join(dir, "b.lease"));
    expect(file.linksNow(join(dir, "a.lease"))).toBe(true);
    expect(file.linksNow(join(dir, "b.lease"))).toBe(true);
  });
});
