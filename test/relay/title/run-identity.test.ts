import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runIdentity } from "../../../relay/title/run-identity.ts";

describe("runIdentity", () => {
  it("names a parsed title's run by its decoded runId, keyed by its NFKC form", () => {
    expect(runIdentity("T runId=run%2D42")).toEqual({
      tagged: true,
      runId: "run-42",
      key: "run-42",
      parses: true,
    });
    expect(runIdentity("T runId=run-４２")).toEqual({
      tagged: true,
      runId: "run-４２",
      key: "run-42",
      parses: true,
    });
  });

  it("gives every spelling of one runId the same key", () => {
    const keys = ["runId=run-42", "runId=run%2D42", "runId=%72%75%6E-42", "runId=run-４２"].map((t) => {
      const identity = runIdentity(t);
      return identity.tagged ? identity.key : null;
    });
    expect(new Set(keys)).toEqual(new Set(["run-42"]));
  });

  it("is untagged without a non-empty runId", () => {
    for (const title of [
      "plain",
      "runId=",
      "T taskId=T-1 callbackSession=agent:main:main",
      "New session - 2026",
    ]) {
      expect(runIdentity(title)).toEqual({ tagged: false });
    }
  });

  it("keeps a refused title tagged when some reading finds a runId", () => {
    expect(runIdentity("RunId=r1")).toEqual({ tagged: true, runId: "r1", key: "r1", parses: false });
    expect(runIdentity("ｒｕｎＩｄ＝r1")).toMatchObject({ tagged: true, key: "r1", parses: false });
    expect(runIdentity("runId=r1\u200b")).toMatchObject({ tagged: true, key: "r1", parses: false });
    expect(runIdentity("x\u00a0runId=r%2D1")).toMatchObject({ tagged: true, key: "r-1", parses: false });
    expect(runIdentity("run%49d=r1")).toMatchObject({ tagged: true, key: "r1", parses: false });
    expect(runIdentity(`runId=r1 ${"x".repeat(5000)}`)).toMatchObject({
      tagged: true,
      key: "r1",
      parses: false,
    });
  });

  it("leaves refused titles that name no run untagged", () => {
    for (const title of ["Fix\u200b login", "café=bon", "runid=", "x".repeat(5000)]) {
      expect(runIdentity(title)).toEqual({ tagged: false });
    }
  });

  it("never throws", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (title) => {
        expect(typeof runIdentity(title).tagged).toBe("boolean");
      }),
      { numRuns: 500 },
    );
  });
});
