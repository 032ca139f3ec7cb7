/**
 * The package as users load it, in another node process: `require("tsebpf")` (Node >= 20.19
 * loads the ESM build through require(), which needs a module graph without top-level await) and
 * `import`, for the root and every subpath export (tsebpf/testing with the optional peer
 * fast-check installed). Uses the repository's dist/ when it is fresh,
 * else builds into a temporary package (test/helpers/dist.ts).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "./helpers/dist.js";

interface PackageJson {
  exports: Record<string, string | Record<string, string>>;
  engines: { node: string };
}
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as PackageJson;

let app: string;

/** Runs node in a directory whose node_modules/tsebpf is the package. */
function node(args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: app, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("package", () => {
  beforeAll(() => {
    const root = packageRoot();
    app = mkdtempSync(join(tmpdir(), "tsebpf-app-"));
    mkdirSync(join(app, "node_modules"));
    symlinkSync(root, join(app, "node_modules/tsebpf"), "dir");
    // The optional peer dependency of tsebpf/testing, as a user who property-tests installs it.
    symlinkSync(join(process.cwd(), "node_modules/fast-check"), join(app, "node_modules/fast-check"), "dir");
  }, 120_000);
  afterAll(() => rmSync(app, { recursive: true, force: true }));

  it("every export has require and default conditions beside import, all to the same ESM file", () => {
    for (const [path, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") continue;
      expect(Object.keys(target), path).toEqual(["types", "import", "require", "default"]);
      expect(new Set([target.import, target.require, target.default]).size, path).toBe(1);
    }
  });

  it("this node can require() ES modules (>= 20.19)", () => {
    const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
    expect(major > 20 || (major === 20 && minor >= 19), `node ${process.versions.node}`).toBe(true);
    expect(process.features.require_module).toBe(true);
  });

  it('require("tsebpf") and each subpath work, with no warning and the same objects as import', () => {
    const script = `
      const t = require("tsebpf");
      const out = {
        root: [typeof t.Collection, typeof t.runtime.tracePipe, typeof t.formatIPv6, typeof t.VerifierError],
        asm: typeof require("tsebpf/asm").assemble,
        errors: typeof require("tsebpf/errors").TsebpfError,
        format: require("tsebpf/format").formatIPv6(Uint8Array.from([32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1])),
        testing: (() => { const t = require("tsebpf/testing"); return [typeof t.program, typeof t.btfBlob, typeof t.elfObject, typeof t.mutatedObject, require("fast-check").sample(t.program(), { numRuns: 1, seed: 1 })[0].at(-1).opcode]; })(),
        version: require("tsebpf/package.json").version,
        sameErrors: require("tsebpf/errors").TsebpfError === t.TsebpfError,
      };
      import("tsebpf").then((m) => {
        out.sameAsImport = m.Collection === t.Collection;
        process.stdout.write(JSON.stringify(out));
      });
    `;
    const r = node(["-e", script]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      root: ["function", "function", "function", "function"],
      asm: "function",
      errors: "function",
      format: "2001:db8::2:1",
      testing: ["function", "function", "object", "function", 0x95],
      version: JSON.parse(readFileSync("package.json", "utf8")).version,
      sameErrors: true,
      sameAsImport: true,
    });
  });

  it("import works as before, and a path that is not exported is refused", () => {
    const ok = node(["--input-type=module", "-e", `import { formatIPv4 } from "tsebpf"; import * as f from "tsebpf/format"; process.stdout.write(formatIPv4([10, 0, 0, 1]) + " " + typeof f.cString);`]);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe("10.0.0.1 function");
    const internal = node(["-e", `require("tsebpf/dist/runtime/map.js")`]);
    expect(internal.status).not.toBe(0);
    expect(internal.stderr).toContain("ERR_PACKAGE_PATH_NOT_EXPORTED");
  });

  it("no module of the build uses top-level await (require() of it would throw ERR_REQUIRE_ASYNC_MODULE)", () => {
    // Requiring every module of the build: any with top-level await (or importing one) fails.
    const script = `
      const { readdirSync } = require("node:fs");
      const { join } = require("node:path");
      const root = join(require.resolve("tsebpf/package.json"), "..", "dist");
      const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith(".js") ? [join(d, e.name)] : []);
      const failed = [];
      let n = 0;
      for (const f of walk(root)) {
        if (f.includes("/cli/main.js")) continue; // the command itself runs on import
        n++;
        try { require(f); } catch (e) { failed.push(f + ": " + (e.code || e.message)); }
      }
      process.stdout.write(JSON.stringify({ n, failed }));
    `;
    const r = node(["-e", script]);
    expect(r.status, r.stderr).toBe(0);
    const { n, failed } = JSON.parse(r.stdout) as { n: number; failed: string[] };
    expect(failed).toEqual([]);
    expect(n).toBeGreaterThan(50);
  });
});
