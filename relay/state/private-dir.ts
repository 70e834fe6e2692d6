import { chmod, mkdir, stat } from "node:fs/promises";
import { RelayError } from "../errors/index.ts";

/** `created` or `ok`: private already; `tightened`: it was open to group/others, and we set 0700. */
export type PrivateDirState = "ok" | "tightened";

const OPEN_TO_OTHERS = 0o022; // group- or other-writable
const STICKY = 0o1000;

/**
 * Make sure `dir` exists (created 0700 with its parents) and only its owner can write in it: the
 * relay keeps callbacks, claims and the audit log there, and a folder others can write lets them
 * plant files or links (DESIGN.md "Audit log"). A folder open to group/others is tightened to 0700
 * when it is ours (owned by this uid) and not a shared folder by design (sticky bit, as /tmp), and
 * refused otherwise with RelayError STATE_FOLDER_INSECURE: nothing is written there. The folder
 * itself may be a link a user made (stat follows it); links inside it are refused elsewhere
 * (open-no-follow.ts).
 */
export async function ensurePrivateDir(dir: string): Promise<PrivateDirState> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await stat(dir);
  if ((info.mode & OPEN_TO_OTHERS) === 0) return "ok";
  const ours = info.uid === process.getuid?.();
  if (!ours || (info.mode & STICKY) !== 0) {
    throw new RelayError(
      "STATE_FOLDER_INSECURE",
      `${dir} is writable by ${(info.mode & 0o002) !== 0 ? "others" : "its group"} (mode ${(info.mode & 0o7777).toString(8)}, owner uid ${info.uid}) and cannot be made private by this user`,
      { details: { path: dir, mode: (info.mode & 0o7777).toString(8), uid: info.uid } },
    );
  }
  await chmod(dir, 0o700);
  return "tightened";
}
