/**
 * Group commit: writes that arrive together share one commit (one fsync). Node has no syncfs and
 * an fsync costs the same for one record as for sixty, so callers hand their item to `add()` and
 * wait; items that arrive together, or while the previous commit is still running, go into the
 * next commit together. One commit runs at a time: while it is on the disk the next group forms,
 * so the busier the disk, the larger each group (and the fewer fsyncs per record).
 *
 * When it has been quiet (no commit in this turn of the event loop), a commit starts once the
 * current synchronous work and its promise callbacks are done, not a turn later: in OpenCode's
 * process after a turn, a turn of the event loop waits behind OpenCode's own I/O callbacks, 5 to
 * 20 ms (BENCHMARKS.md, e2e), and a lone callback's first attempt waits on its commit. Once a
 * commit has run in this turn, the next waits for the next turn, where everything handed over in
 * between joins it: a burst yields to the host between its commits.
 *
 * With a synchronous commit (`now`), a lone item after a quiet spell can be committed on the
 * caller's own stack (`addNow`): in OpenCode's process, even a microtask queued from the event hook
 * runs 2–3 ms later, behind OpenCode's own work after a turn (BENCHMARKS.md, section 9).
 * Such a lone commit does not close the turn: what is handed over right after it (more runs ending
 * on the same stack) is committed together once that stack is done, as after a quiet spell; only
 * the commit after that waits for the next turn.
 */
export interface GroupCommit<T, R> {
  /** Resolves (or rejects) with the result of the commit that carried `item`. */
  add(item: T): Promise<R>;
  /**
   * Commit `item` alone, at once, on the caller's stack, when it has been quiet (no commit running,
   * waiting or run in this turn of the event loop) and the group has a synchronous commit. Returns
   * the commit's result, throws its error; `undefined` when not quiet: use add().
   */
  addNow(item: T): { result: R } | undefined;
}

export interface GroupCommitOptions<T, R> {
  /** Items per commit at most; the rest wait for the next one. @default 64 */
  maxItems?: number;
  /** The same commit, made with synchronous calls, for addNow(). @default none: addNow() declines */
  now?: (items: T[]) => R;
}

interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** A group commit around `commit`, which gets the items of one group in arrival order. */
export function groupCommit<T, R>(
  commit: (items: T[]) => Promise<R>,
  options: GroupCommitOptions<T, R> = {},
): GroupCommit<T, R> {
  const maxItems = options.maxItems ?? 64;
  let queue: Array<Waiting<T, R>> = [];
  let running = false;
  let scheduled = false;
  /** Commits started in this turn of the event loop, and whether the first was addNow's lone one. */
  let commits = 0;
  let loneFirst = false;
  const cool = () => {
    commits = 0;
    loneFirst = false;
  };

  const kick = () => {
    if (running || scheduled || queue.length === 0) return;
    scheduled = true;
    // Quiet, or only a lone commit so far: once the current stack is done; else the next turn.
    if (commits === 0 || (loneFirst && commits === 1)) queueMicrotask(run);
    else setImmediate(run);
  };
  const heat = (lone: boolean) => {
    if (commits === 0) {
      setImmediate(cool); // first: should it throw (a stack nearly full), the group is not left hot
      loneFirst = lone;
    }
    commits += 1;
  };
  const run = async () => {
    scheduled = false;
    running = true;
    heat(false);
    const group = queue.slice(0, maxItems);
    queue = queue.slice(group.length);
    try {
      const result = await commit(group.map((w) => w.item));
      for (const w of group) w.resolve(result);
    } catch (error) {
      for (const w of group) w.reject(error);
    } finally {
      running = false;
      kick();
    }
  };

  return {
    add(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        kick();
      });
    },
    addNow(item) {
      const now = options.now;
      if (now === undefined || commits > 0 || running || scheduled || queue.length > 0) return undefined;
      heat(true);
      return { result: now([item]) };
    },
  };
}
