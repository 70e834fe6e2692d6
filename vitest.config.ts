import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/**
 * The unit project's temp dirs go on tmpfs when the machine has one. Its tests write thousands of
 * outbox, marker and audit files, each fsynced: that cost is what durability takes in production,
 * not what these tests assert (they check files, records and counts; surviving a crash is proven
 * by tests that kill processes, which tmpfs does not change). On a shared disk it triples the
 * bounded test's time.
 */
const UNIT_TMPDIR = existsSync("/dev/shm") ? { TMPDIR: "/dev/shm" } : {};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          env: UNIT_TMPDIR,
          // Builds dist/ once (test/build-setup.ts); greps every audit line the run wrote for the
          // secrets the tests used (test/global-setup.ts, test/helpers/audit-sink.ts).
          globalSetup: ["test/build-setup.ts", "test/global-setup.ts"],
          include: [
            "test/unit/**/*.test.ts",
            "test/relay/**/*.test.ts",
            "test/plugin/**/*.test.ts",
            "test/scripts/**/*.test.ts",
          ],
          testTimeout: 20_000,
          // Vitest's default is one worker fewer than the cores: one, on a 2-core machine. These
          // tests wait on fsync, child processes and loopback HTTP more than on the CPU, so two
          // files at a time nearly halve the wall time there; more cores keep the default.
          maxWorkers: Math.max(2, availableParallelism() - 1),
        },
      },
      {
        test: {
          name: "e2e",
          globalSetup: ["test/build-setup.ts", "test/global-setup.ts"],
          include: ["test/e2e/**/*.test.ts"],
          // Each file starts its own `opencode serve`; two cores, so keep files from piling up.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
