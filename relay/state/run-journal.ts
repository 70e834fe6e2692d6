import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { RelayError } from "../errors/index.ts";
import { markerName } from "./dedupe-store.ts";
import { syncDir, writeDurableLines } from "./durable-file.ts";
import { groupCommit } from "./group-commit.ts";
import { isOwner, type ProcessOwner } from "./process-owner.ts";

/**
 * The run journal (DESIGN.md "Durable from first sight"): one file per tagged run, written when
 * the plugin first sees the run busy, removed once the relay has claimed it (accepted, deduped or
 * refused with a record). Whatever stops the process after the run began, the next start finds
 * the entry and settles the run from OpenCode's stored messages.
 *
 * Files are `<stateDir>/journal/<markerName(sessionId|runId)>.json` (the dedupe marker's name, so
 * the two can be matched by eye), 0600 in 0700 folders.
 *
 * Group commit: runs that start together (a fan-out of sessions) are written into one temporary
 * file, one JSON line each, fsynced once; each run's name is then a hard link to it (which fails
 * if the run is already journalled), and the links share one fsync of the folder. A reader of a
 * name picks the line of its run. The temporary name goes once every run of the batch is linked.
 */

/** One journalled run, as written. */
export interface JournalEntry {
  v: 1;
  sessionId: string;
  /** The decoded runId (the run's identity), not the raw title token. */
  runId: string;
  /** `sessionId|runId`: the relay's dedupe key. */
  dedupeKey: string;
  /** The title as first seen for this run: its tags are the pins. */
  pinnedTitle: string;
  /** Who was running the turn (host, pid, boot id, process start time). */
  owner: ProcessOwner;
  /** Epoch ms of the run's first busy. */
  startedAt: number;
  /** Epoch ms the entry was written. */
  journalledAt: number;
  /** The OpenCode directory and worktree the plugin instance served. */
  directory: string;
  worktree: string;
  /** Set when the configuration was unusable: the run is held until it is fixed. */
  heldCode?: string;
}

/** What a journal scan found: whole entries, and files that could not be read as one. */
export interface JournalListing {
  entries: JournalEntry[];
  /** Paths of torn, half-written or foreign files: skipped, never thrown. */
  unreadable: string[];
}

export interface RunJournal {
  /** `<stateDir>/journal`. */
  readonly dir: string;
  /**
   * Write an entry durably (fsynced, atomic create). `true`: written now; `false`: this run was
   * already journalled (by this or another process). Throws RelayError STATE_UNWRITABLE.
   */
  record(entry: JournalEntry): Promise<boolean>;
  /** Remove a run's entry (missing is fine: another process may have retired it first). */
  retire(dedupeKey: string): Promise<void>;
  /** Every entry on disk. */
  list(): Promise<JournalListing>;
  /**
   * Move an unreadable file out of the way (`<name>.unreadable`, kept for a person to look at), so
   * it is reported once rather than at every start.
   */
  setAside(path: string): Promise<void>;
}

/** Open (lazily create) the journal under `<stateDir>/journal`. */
export function openRunJournal(stateDir: string): RunJournal {
  const dir = join(stateDir, "journal");
  let ready: Promise<void> | undefined;
  const ensureDir = () => {
    ready ??= mkdir(dir, { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (error: unknown) => {
        ready = undefined; // a later call may succeed once the disk is fixed
        throw unwritable(dir, error);
      },
    );
    return ready;
  };
  const pathOf = (dedupeKey: string) => join(dir, `${markerName(dedupeKey)}.json`);
  /** Runs of each batch still to be linked: the temporary name goes when none is left. */
  const unlinked = new Map<string, number>();
  const batches = groupCommit(async (entries: JournalEntry[]) => {
    const temp = join(dir, `.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await writeDurableLines(temp, entries);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw unwritable(dir, error);
    }
    unlinked.set(temp, entries.length);
    return temp;
  });
  const syncJournal = groupCommit(() => syncDir(dir));
  const linked = async (temp: string) => {
    const left = (unlinked.get(temp) ?? 1) - 1;
    if (left > 0) return void unlinked.set(temp, left);
    unlinked.delete(temp);
    await unlink(temp).catch(() => undefined);
  };

  return {
    dir,
    async record(entry) {
      await ensureDir();
      // Atomic create: the whole entry is written and fsynced (in its batch) under a temporary
      // name, then linked into place, which fails if the run is already journalled. A reader never
      // sees half an entry.
      const temp = await batches.add(entry);
      try {
        await link(temp, pathOf(entry.dedupeKey));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw unwritable(dir, error);
      } finally {
        await linked(temp);
      }
      await syncJournal.add(undefined);
      return true;
    },
    async retire(dedupeKey) {
      await unlink(pathOf(dedupeKey)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw unwritable(dir, error);
      });
    },
    async list() {
      const listing: JournalListing = { entries: [], unreadable: [] };
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return listing; // no journal yet
      }
      for (const name of names) {
        if (!name.endsWith(".json")) continue; // temporaries of a writer, here or stopped mid-way
        const path = join(dir, name);
        try {
          const entry = journalEntryIn(await readFile(path, "utf8"), name);
          if (entry !== undefined) listing.entries.push(entry);
          else listing.unreadable.push(path);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // retired meanwhile
          listing.unreadable.push(path);
        }
      }
      return listing;
    },
    async setAside(path) {
      await rename(path, `${path}.unreadable`).catch(() => undefined);
    },
  };
}

/**
 * The entry a journal file holds for its own name: a file is one group commit's batch, one JSON
 * line per run, linked under each run's name. undefined when a line does not parse as an entry
 * (torn or foreign: never half-trusted) or no line is this name's run.
 */
export function journalEntryIn(text: string, name: string): JournalEntry | undefined {
  let found: JournalEntry | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const entry: unknown = JSON.parse(line);
    if (!isJournalEntry(entry)) return undefined;
    if (found === undefined && `${markerName(entry.dedupeKey)}.json` === name) found = entry;
  }
  return found;
}

/** Whether a parsed file has the shape of a JournalEntry (anything else is skipped, not trusted). */
export function isJournalEntry(value: unknown): value is JournalEntry {
  const e = value as Partial<JournalEntry> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    e.v === 1 &&
    typeof e.sessionId === "string" &&
    typeof e.runId === "string" &&
    e.dedupeKey === `${e.sessionId}|${e.runId}` &&
    typeof e.pinnedTitle === "string" &&
    isOwner(e.owner) &&
    typeof e.startedAt === "number" &&
    typeof e.journalledAt === "number" &&
    typeof e.directory === "string" &&
    typeof e.worktree === "string" &&
    (e.heldCode === undefined || typeof e.heldCode === "string")
  );
}

function unwritable(dir: string, cause: unknown): RelayError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new RelayError("STATE_UNWRITABLE", `cannot write the run journal in ${dir}`, {
    cause,
    details: { path: dir, ...(code === undefined ? {} : { errno: code }) },
  });
}
