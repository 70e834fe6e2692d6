import { describe, expect, it } from "vitest";
import { didYouMean, editDistance } from "../../scripts/cli/did-you-mean.ts";

describe("didYouMean", () => {
  it("counts a swap of neighbours as one edit", () => {
    expect(editDistance("sohw", "show")).toBe(1);
    expect(editDistance("audit", "audit")).toBe(0);
    expect(editDistance("", "abc")).toBe(3);
  });

  it("suggests the closest command or flag for a typo", () => {
    expect(didYouMean("instal", ["install", "uninstall", "doctor", "audit", "receive"])).toBe("install");
    expect(didYouMean("doctr", ["install", "doctor"])).toBe("doctor");
    expect(didYouMean("sohw", ["show", "stats", "verify", "redeliver"])).toBe("show");
    expect(didYouMean("--jsno", ["--json", "--file"])).toBe("--json");
  });

  it("suggests nothing for a word that is not close", () => {
    expect(didYouMean("frobnicate", ["install", "doctor", "audit"])).toBeUndefined();
    expect(didYouMean("x", ["show", "stats"])).toBeUndefined();
  });
});
