import { defineConfig } from "vitest/config";

// Three kinds of tests, selectable with `--project`:
//   unit      pure code, example-based (runs anywhere)
//   property  pure code, fast-check properties (runs anywhere)
//   kernel    real kernel: needs root; skips with a reason elsewhere, fails when skipped in CI
export default defineConfig({
  test: {
    reporters: ["default", "./test/reporters/summary.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.prop.test.ts", "test/kernel/**"],
        },
      },
      {
        extends: true,
        test: {
          name: "property",
          include: ["test/**/*.prop.test.ts"],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: "kernel",
          include: ["test/kernel/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Kernel tests share interfaces, namespaces and bpffs: run their files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
