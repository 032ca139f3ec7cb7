/**
 * The compiled package, for tests that run it in another node process (`require("tsebpf")`, a
 * child that must exit): the repository itself when its dist/ is fresh (every src/ file has a
 * compiled file at least as new), else a build into a temporary package (its own package.json
 * copy, node_modules linked to the repository's) — never a write into the repository's dist/,
 * which other runs may be using.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Why the repository's dist/ is not up to date with src/ (undefined when it is). */
export function distStaleness(root = ROOT): string | undefined {
  for (const src of sources(join(root, "src"))) {
    const out = join(root, "dist", relative(join(root, "src"), src).replace(/\.ts$/, ".js"));
    if (!existsSync(out)) return `${relative(root, out)} is missing`;
    if (statSync(out).mtimeMs < statSync(src).mtimeMs) return `${relative(root, out)} is older than its source`;
  }
  return undefined;
}

let built: string | undefined;

/**
 * A directory holding the package (package.json, dist/, node_modules): the repository when
 * dist/ is fresh, else a temporary build (compiled once per test process). Type errors elsewhere
 * in the tree do not stop the build (tsc emits anyway); a build without dist/index.js throws.
 */
export function packageRoot(): string {
  if (distStaleness() === undefined) return ROOT;
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-pkg-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", join(dir, "dist"), "--sourceMap", "false", "--declaration", "false"], {
    encoding: "utf8",
  });
  if (!existsSync(join(dir, "dist/index.js"))) throw new Error(`tsc build failed: ${r.error?.message ?? ""}${r.stdout}${r.stderr}`);
  cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  built = dir;
  return dir;
}
