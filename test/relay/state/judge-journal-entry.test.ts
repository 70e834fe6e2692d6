import { describe, expect, it } from "vitest";
import { judgeJournalEntry } from "../../../relay/state/judge-journal-entry.ts";

const base = { claimed: false, renewedAt: null, now: 100_000, staleMs: 60_000 } as const;

describe("judgeJournalEntry", () => {
  it("retires a claimed run whoever owns it", () => {
    for (const liveness of ["alive", "dead", "unknown"] as const) {
      expect(judgeJournalEntry({ ...base, claimed: true, liveness })).toBe("claimed");
    }
  });

  it("leaves a run whose owner is alive to that owner", () => {
    expect(judgeJournalEntry({ ...base, liveness: "alive" })).toBe("owner-alive");
  });

  it("settles a run whose owner is dead, however recently it renewed", () => {
    expect(judgeJournalEntry({ ...base, liveness: "dead", renewedAt: 99_999 })).toBe("orphan");
  });

  it("judges an owner of unknown liveness by its renewal age", () => {
    expect(judgeJournalEntry({ ...base, liveness: "unknown", renewedAt: 50_000 })).toBe("owner-alive");
    expect(judgeJournalEntry({ ...base, liveness: "unknown", renewedAt: 40_000 })).toBe("orphan");
    expect(judgeJournalEntry({ ...base, liveness: "unknown", renewedAt: null })).toBe("orphan");
  });
});
