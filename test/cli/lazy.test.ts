/** The CLI loads only the selected command's module, and reads the same as when it loaded them all. */
import { readFileSync } from "node:fs";
import { posix } from "node:path";
import { Command, Help } from "commander";
import { describe, expect, it } from "vitest";
import { COMMANDS, createProgram, selectedCommand } from "../../src/cli/program.js";
import { tsebpf } from "./run.js";

const silent = { out: () => undefined, err: () => undefined };

describe("lazy command loading", () => {
  it("the table agrees with what each module registers: name, aliases, usage, description", async () => {
    const help = new Help();
    for (const entry of COMMANDS) {
      const program = new Command("tsebpf");
      (await entry.load())(program, silent);
      expect(program.commands.map((c) => c.name()), entry.name).toEqual([entry.name]);
      const cmd = program.commands[0] as Command;
      expect(cmd.description(), entry.name).toBe(entry.description);
      expect(cmd.aliases(), entry.name).toEqual([]);
      expect(help.subcommandTerm(cmd), entry.name).toBe(entry.usage ? `${entry.name} ${entry.usage}` : entry.name);
    }
  });

  it("the root modules import no command module (and so none of the library)", () => {
    const source = readFileSync("src/cli/program.ts", "utf8");
    const staticImports = [...source.matchAll(/^import\s[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]);
    expect(staticImports.sort()).toEqual(["./io.js", "./version.js", "commander"]);
    // main.ts answers a lone --version with only the package version, and imports the rest after.
    const main = readFileSync("src/cli/main.ts", "utf8");
    expect([...main.matchAll(/^import\s[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1])).toEqual(["./version.js"]);
    expect(main).toContain('await import("./program.js")');
  });

  it("tsebpf disasm imports only the ELF reader and the disassembler: not the library index, the runtime or koffi", () => {
    const graph = staticImportGraph("src/cli/commands/disasm.ts");
    expect(graph).toContain("src/elf/objdump.ts");
    expect(graph).toContain("src/asm/disasm.ts");
    const heavy = graph.filter((f) => f === "src/index.ts" || /^src\/(runtime|syscall|gen|programs)\//.test(f) || !f.startsWith("src/"));
    expect(heavy.filter((f) => f !== "commander")).toEqual([]);
  });

  it("picks the command from the arguments: the first word, or the one after help", () => {
    expect(selectedCommand([])).toBeUndefined();
    expect(selectedCommand(["--version"])).toBeUndefined();
    expect(selectedCommand(["--help"])).toBeUndefined();
    expect(selectedCommand(["prog", "list", "--json"])).toBe("prog");
    expect(selectedCommand(["-h", "btf", "dump"])).toBe("btf");
    expect(selectedCommand(["help", "map"])).toBe("map");
    expect(selectedCommand(["help"])).toBeUndefined();
  });

  it("tsebpf --help lists every command, the same with none loaded as with all loaded", async () => {
    const none = await tsebpf("--help");
    expect(none.code).toBe(0);
    for (const entry of COMMANDS) expect(none.stdout).toMatch(new RegExp(`^  ${entry.name}( |$)`, "m"));
    let all = "";
    const program = await createProgram({ out: (t) => void (all += t), err: () => undefined });
    program.outputHelp();
    expect(none.stdout).toBe(all);
  });

  it("tsebpf CMD --help and tsebpf help CMD show the command's options and subcommands", async () => {
    const btf = await tsebpf("btf", "dump", "--help");
    expect(btf.code).toBe(0);
    expect(btf.stdout).toMatch(/--id <id>/);
    expect(btf.stdout).toMatch(/-f, --format <format>/);
    const prog = await tsebpf("help", "prog");
    expect(prog.code).toBe(0);
    expect(prog.stdout).toMatch(/list\|show \[options\] \[ref\.\.\.\]/);
    expect(prog.stdout).toMatch(/run \[options\] <ref\.\.\.>/);
    const lb = await tsebpf("loadbalancer", "--help");
    expect(lb.stdout).toMatch(/--sample-flows <n>/);
    expect(lb.stdout).toMatch(/check \[options\] \[config\]/);
    const asm = await tsebpf("asm", "--help");
    expect(asm.stdout).toMatch(/-o, --output <file>/);
  });

  it("--version prints the package's version; an unknown command is refused with a suggestion", async () => {
    const v = await tsebpf("--version");
    expect(v).toEqual({ code: 0, stdout: `${(JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version}\n`, stderr: "" });
    const typo = await tsebpf("progg");
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/unknown command 'progg'\n\(Did you mean prog\?\)/);
  });

  it("runs the selected command", async () => {
    const r = await tsebpf("helpers", "bpf_map_lookup_elem");
    expect(r).toEqual({ code: 0, stdout: "   1  void *bpf_map_lookup_elem(void *map, const void *key)\n", stderr: "" });
  });
});

/**
 * The modules a source file imports statically, transitively: repository paths of our own
 * modules (`.js` specifiers read as their `.ts` sources), package names as they are written.
 */
function staticImportGraph(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!file.startsWith("src/")) return;
    const source = readFileSync(file, "utf8");
    for (const m of source.matchAll(/^(?:import|export)\s(?!type\s)[^;]*?from\s+"([^"]+)"|^import\s+"([^"]+)"/gms)) {
      const specifier = (m[1] ?? m[2]) as string;
      if (specifier.startsWith("node:")) continue;
      visit(specifier.startsWith(".") ? posix.join(posix.dirname(file), specifier).replace(/\.js$/, ".ts") : specifier);
    }
  };
  visit(entry);
  return [...seen];
}
