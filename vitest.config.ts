import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          // Greps every audit line the run wrote for the secrets the tests used (test/helpers/audit-sink.ts).
          globalSetup: ["test/global-setup.ts"],
          include: [
            "test/unit/**/*.test.ts",
            "test/relay/**/*.test.ts",
            "test/plugin/**/*.test.ts",
            "test/scripts/**/*.test.ts",
          ],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "e2e",
          globalSetup: ["test/global-setup.ts"],
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
