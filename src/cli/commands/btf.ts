import type { Command } from "commander";
import { Btf, btf as btfNs, readElf, runtime } from "../../index.js";
import { CliError, readInput, type Output } from "../io.js";
import { U32_MAX, integerOption } from "./options.js";

const KERNEL_BTF = "/sys/kernel/btf/vmlinux";

/** A BTF blob from a raw BTF file or from an object's .BTF section. */
function loadBtf(path: string): Btf {
  const bytes = readInput(path);
  if (bytes.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    const section = readElf(bytes).sectionByName(".BTF");
    if (!section) throw new CliError(`${path}: the object has no .BTF section (build with clang -g)`);
    return new Btf(section.data);
  }
  return new Btf(bytes);
}

export function registerBtf(program: Command, io: Output): void {
  const btf = program.command("btf").description("BTF type information: dump as C (vmlinux.h), raw text or JSON");
  btf
    .command("dump")
    .description("dump the BTF of the kernel, a BTF file or an object file")
    .argument("[file]", "a BTF file or BPF object", KERNEL_BTF)
    .option("--id <id>", "the BTF object with this id in the kernel (see bpftool btf list, tsebpf prog show)", integerOption("--id", 0, U32_MAX))
    .option("-f, --format <format>", "c (a header clang compiles), raw (bpftool's text) or json", "raw")
    .option("--json", "same as --format json")
    .addHelpText(
      "after",
      `
Examples:
  tsebpf btf dump --format c > vmlinux.h        # the running kernel's types as a C header
  tsebpf btf dump obj.o                          # an object's BTF, as bpftool btf dump prints it
  tsebpf btf dump --id 42                        # BTF loaded in the kernel, by id
  tsebpf btf dump /sys/kernel/btf/nf_tables --json`,
    )
    .action((file: string, opts: { format: string; json?: boolean; id?: number }) => {
      const format = opts.json ? "json" : opts.format;
      if (!["c", "raw", "json"].includes(format)) throw new CliError(`--format: expected c, raw or json, not '${format}'`);
      const blob = opts.id !== undefined ? runtime.btfById(opts.id).btf : loadBtf(file);
      if (format === "c") io.out(btfNs.dumpC(blob));
      else if (format === "json") io.out(`${JSON.stringify(btfNs.dumpJson(blob))}\n`);
      else io.out(btfNs.dumpRaw(blob));
    });
}
