import { describe, expect, it } from "vitest";
import { groupCommit } from "../../../relay/state/group-commit.ts";

/** A commit the test finishes by hand, recording the groups it was given. */
function manualCommit() {
  const groups: number[][] = [];
  const finishers: Array<(error?: Error) => void> = [];
  const commit = (items: number[]) => {
    groups.push(items);
    return new Promise<string>((resolve, reject) => {
      finishers.push((error) => (error ? reject(error) : resolve(`commit ${groups.length}`)));
    });
  };
  /** Resolves once `n` commits have started. */
  const started = async (n: number) => {
    while (groups.length < n) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  return { groups, finishers, commit, started };
}

describe("groupCommit", () => {
  it("gives items handed over in one turn of the event loop one commit", async () => {
    const { groups, finishers, commit, started } = manualCommit();
    const group = groupCommit(commit);
    const results = Array.from({ length: 10 }, (_, i) => group.add(i));
    await started(1);
    finishers[0]?.();
    expect(await Promise.all(results)).toEqual(Array(10).fill("commit 1"));
    expect(groups).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  });

  it("runs one commit at a time: what arrives meanwhile is the next group, together", async () => {
    const { groups, finishers, commit, started } = manualCommit();
    const group = groupCommit(commit);
    const first = group.add(1);
    await started(1);
    const later = [group.add(2), group.add(3)];
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(groups).toHaveLength(1); // still on the disk: nothing else starts
    finishers[0]?.();
    expect(await first).toBe("commit 1");
    await started(2);
    finishers[1]?.();
    expect(await Promise.all(later)).toEqual(["commit 2", "commit 2"]);
    expect(groups).toEqual([[1], [2, 3]]);
  });

  it("rejects every item of a failed group, and only those", async () => {
    const { finishers, commit, started } = manualCommit();
    const group = groupCommit(commit);
    const failing = [group.add(1), group.add(2)];
    await started(1);
    const next = group.add(3);
    const eio = Object.assign(new Error("I/O error"), { code: "EIO" });
    finishers[0]?.(eio);
    for (const item of failing) await expect(item).rejects.toBe(eio);
    await started(2);
    finishers[1]?.();
    expect(await next).toBe("commit 2");
  });

  it("splits a group past maxItems", async () => {
    const { groups, finishers, commit, started } = manualCommit();
    const group = groupCommit(commit, { maxItems: 3 });
    const all = Array.from({ length: 7 }, (_, i) => group.add(i));
    for (let n = 1; n <= 3; n++) {
      await started(n);
      finishers[n - 1]?.();
    }
    await Promise.all(all);
    expect(groups).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
  });
  it("commits a lone item after a quiet spell before the next turn of the event loop", async () => {
    // The turn waits behind the host's I/O callbacks (tens of ms in OpenCode after a turn), and a
    // lone callback's first attempt waits on this commit.
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const seen: boolean[] = [];
    const group = groupCommit(async (items: number[]) => {
      seen.push(turned);
      return items.length;
    });
    expect(await Promise.all([group.add(1), group.add(2)])).toEqual([2, 2]);
    expect(seen).toEqual([false]);
  });

  it("once a commit has run in this turn, waits for the next turn and takes all that arrived meanwhile", async () => {
    // A burst yields to the host between its commits, and its groups grow.
    const groups: number[][] = [];
    const turnAtCommit: boolean[] = [];
    let turned = false;
    const group = groupCommit(async (items: number[]) => {
      groups.push(items);
      turnAtCommit.push(turned);
      return groups.length;
    });
    expect(await group.add(1)).toBe(1);
    setImmediate(() => {
      turned = true;
    });
    const second = [group.add(2)];
    await Promise.resolve();
    second.push(group.add(3));
    expect(await Promise.all(second)).toEqual([2, 2]);
    expect(groups).toEqual([[1], [2, 3]]);
    expect(turnAtCommit).toEqual([false, true]);
    // A whole turn without a commit: quiet again, the next lone item goes at once.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    turned = false;
    setImmediate(() => {
      turned = true;
    });
    expect(await group.add(4)).toBe(3);
    expect(turnAtCommit).toEqual([false, true, false]);
  });

  it("addNow commits a lone item on the caller's stack after a quiet spell, and declines otherwise", async () => {
    const groups: number[][] = [];
    const turnAtCommit: boolean[] = [];
    let turned = false;
    const commitNow = (items: number[]) => {
      groups.push(items);
      turnAtCommit.push(turned);
      if (items.includes(13)) throw new Error("EIO");
      return groups.length;
    };
    const group = groupCommit(async (items: number[]) => commitNow(items), { now: commitNow });
    setImmediate(() => {
      turned = true;
    });
    expect(group.addNow(1)).toEqual({ result: 1 });
    expect(groups).toEqual([[1]]);
    // A lone commit ran: the next item is not committed at once, but what joins it on this stack
    // is committed together before the next turn (more runs ending on the same stack)...
    expect(group.addNow(2)).toBeUndefined();
    const later = [group.add(2), group.add(3)];
    expect(group.addNow(4)).toBeUndefined();
    expect(await Promise.all(later)).toEqual([2, 2]);
    // ...and the commit after that waits for the next turn.
    expect(await group.add(5)).toBe(3);
    expect(groups).toEqual([[1], [2, 3], [5]]);
    expect(turnAtCommit).toEqual([false, false, true]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Quiet again: at once; a failed commit throws to the caller.
    expect(() => group.addNow(13)).toThrow("EIO");
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(group.addNow(6)).toEqual({ result: 5 });
    expect(groups).toEqual([[1], [2, 3], [5], [13], [6]]);
    // Without a synchronous commit there is no addNow.
    expect(groupCommit(async (items: number[]) => items.length).addNow(1)).toBeUndefined();
  });
});
