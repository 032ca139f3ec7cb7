import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Planted failures for the tests of the property tooling (test/tooling/): never part of the suite
// (the repository's vitest.config.ts includes only *.test.ts); run by test/tooling/*.test.ts in a
// child process, with this config.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../../..", import.meta.url)),
    include: ["test/tooling/planted/*.planted.ts"],
    reporters: ["default"],
  },
});
