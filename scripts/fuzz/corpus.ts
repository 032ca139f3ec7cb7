/** The campaign's corpus: the repository's objects (fixtures, programs, regressions) and every ELF file under the user's directories. */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export interface CorpusEntry {
  /** Where it came from (relative to the working directory when inside it). */
  path: string;
  bytes: Uint8Array;
}

const MAX_SIZE = 16 << 20;

function walk(dir: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules" && !e.name.startsWith(".")) walk(p, out);
    } else if (e.isFile()) out.push(p);
  }
}

/** ELF files (by magic) under `dir`, recursively, up to 16 MiB each. */
export function elfFilesUnder(dir: string): CorpusEntry[] {
  const files: string[] = [];
  walk(dir, files);
  const out: CorpusEntry[] = [];
  for (const f of files) {
    try {
      if (statSync(f).size > MAX_SIZE || statSync(f).size < 64) continue;
      const bytes = new Uint8Array(readFileSync(f));
      if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
        out.push({ path: relative(process.cwd(), f).startsWith("..") ? f : relative(process.cwd(), f), bytes });
      }
    } catch {
      // unreadable: skipped
    }
  }
  return out;
}

/** The repository's objects: test fixtures, regression reproducers (test/regressions) and the programs' objects. */
export function repositoryCorpus(root = process.cwd()): CorpusEntry[] {
  return [...elfFilesUnder(join(root, "test/fixtures")), ...elfFilesUnder(join(root, "test/regressions")), ...elfFilesUnder(join(root, "src/programs"))];
}
