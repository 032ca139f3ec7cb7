import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { elf, runtime } from "../../index.js";
import { CliError, readInput, type Output } from "../io.js";
import { objectRef } from "./objects.js";

/** `tsebpf link a.o b.o -o out.o`: the static linker (what `bpftool gen object` does). */
function linkFiles(objects: readonly string[], output: string | undefined, io: Output): void {
  if (output === undefined) throw new CliError("link: name the linked object with -o FILE (tsebpf link a.o b.o -o out.o)");
  const inputs = objects.map((name) => ({ name, bytes: readInput(name) }));
  const linked = elf.linkObjects(inputs);
  writeFileSync(output, linked);
  io.err(`linked ${objects.length} objects into ${output} (${linked.byteLength} bytes)\n`);
}

const LINK_HELP = `
Two uses:
  tsebpf link a.o b.o [more.o...] -o out.o
      link BPF objects into one (like bpftool gen object): same-named sections
      concatenated, globals resolved across objects (an extern function, variable
      or map in one object defined in another; strong over weak; two strong
      definitions are an error naming both files), .BTF merged and .BTF.ext moved;
      same-named static functions and variables stay apart (the later one named
      name.N). tsebpf reads bpftool's linked output too (functions and variables are
      told apart by section and offset; a variable name two share is given as its
      label, counter@.bss+16, which inspect lists), and an object with extern
      declarations loads alone where its externs allow (its maps with BTF; programs
      needing another object refused)
  tsebpf link list|show [id N | pinned PATH]
  tsebpf link detach <id N | pinned PATH>
      bpf_links in the kernel
A first operand named list, show or detach selects the subcommand; any other is an object.
`;

/** What `tsebpf --help` says of the command (src/cli/program.ts lists the same). */
export const LINK_DESCRIPTION = "link BPF objects into one (a.o b.o -o out.o), or bpf_links: list, show, detach";

function openLink(ref: string[]): runtime.Link {
  const r = objectRef(ref, "link");
  if (r.kind === "id") return runtime.Link.fromId(r.value);
  if (r.kind === "pinned") return runtime.Link.fromPin(r.path);
  throw new Error("links have no names: use id N or pinned PATH");
}

export function registerLink(program: Command, io: Output): void {
  const link = program
    .command("link")
    .description(LINK_DESCRIPTION)
    .argument("[objects...]", "BPF objects to link into one (clang output or linked objects, all of one byte order)")
    .option("-o, --output <file>", "where to write the linked object")
    .addHelpText("after", LINK_HELP)
    .action((objects: string[], opts: { output?: string }) => {
      if (objects.length === 0) {
        link.help();
        return;
      }
      linkFiles(objects, opts.output, io);
    });
  link
    .command("list")
    .alias("show")
    .description("list links, or show one: [id N | pinned PATH]")
    .argument("[ref...]", "id N or pinned PATH")
    .option("--json", "print JSON")
    .action((ref: string[], opts: { json?: boolean }) => {
      let infos: runtime.LinkInfo[];
      if (ref.length) {
        using l = openLink(ref);
        infos = [l.info()];
      } else {
        infos = runtime.listLinks();
      }
      if (opts.json) {
        const json = infos.map((l) => ({ id: l.id, type: l.typeName, prog_id: l.programId }));
        io.out(`${JSON.stringify(ref.length ? json[0] : json, null, 2)}\n`);
        return;
      }
      for (const l of infos) io.out(`${l.id}: ${l.typeName}  prog ${l.programId}\n`);
    });
  link
    .command("detach")
    .description("detach a link's program now, even if the link is pinned (BPF_LINK_DETACH)")
    .argument("<ref...>", "id N or pinned PATH")
    .action((ref: string[]) => {
      using l = openLink(ref);
      l.detach();
    });
}
