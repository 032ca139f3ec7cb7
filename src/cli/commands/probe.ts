import type { Command } from "commander";
import { runtime } from "../../index.js";
import type { Output } from "../io.js";

type Answers = Readonly<Record<string, runtime.ProbeAnswer>>;

export function registerProbe(program: Command, io: Output): void {
  program
    .command("probe")
    .description("which map, program and link types (and trampoline kinds, struct_ops registration) this kernel supports; a 'no' says the kernel's errno")
    .option("--json", "print JSON: each group maps a type to true/false; `reasons` gives the errno of every 'no'")
    .addHelpText(
      "after",
      "\nExits 0 whatever the kernel lacks; exits 1 only when this process may not use bpf(2) at all\n(then one line names the missing privilege). A type refused with EPERM while plain maps and\nprograms load is refused by this kernel's build or policy, not for want of a capability.\nstruct_ops: a minimal tcp_congestion_ops is registered under a name of this process and\nunregistered at once; a 'no' names the refused step (loading, creating the map, registering).",
    )
    .action((opts: { json?: boolean }) => {
      const report = runtime.probeAll();
      const groups: [string, Answers][] = [
        ["map_types", report.mapTypes],
        ["program_types", report.programTypes],
        ["link_types", report.linkTypes],
        ["trampolines", report.trampolines],
        ["struct_ops", report.structOps],
      ];
      if (opts.json) {
        const supported = Object.fromEntries(groups.map(([g, a]) => [g, Object.fromEntries(Object.entries(a).map(([n, v]) => [n, v.supported]))]));
        const reasons = Object.fromEntries(groups.map(([g, a]) => [g, Object.fromEntries(Object.entries(a).filter(([, v]) => !v.supported).map(([n, v]) => [n, v.reason ?? "unknown"]))]));
        io.out(`${JSON.stringify({ ...supported, reasons }, null, 2)}\n`);
        return;
      }
      for (const [group, answers] of groups) {
        io.out(`${group.replace("_", " ")}:\n`);
        for (const [name, a] of Object.entries(answers)) io.out(`  ${name.padEnd(28)} ${a.supported ? "yes" : `no${a.reason ? ` (${a.reason})` : ""}`}\n`);
      }
    });
}
