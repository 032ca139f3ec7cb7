import type { Command } from "commander";
import { asm } from "../../index.js";
import type { Output } from "../io.js";
import { S32_MAX, parseInteger } from "./options.js";

export function registerHelpers(program: Command, io: Output): void {
  program
    .command("helpers")
    .description("list BPF helper functions: id, name and C prototype")
    .argument("[name-or-id]", "show only this helper")
    .option("--json", "print JSON")
    .action((which: string | undefined, opts: { json?: boolean }) => {
      let list = asm.allHelpers();
      if (which !== undefined) {
        const one = /^-?\d+$/.test(which) ? asm.helperById(parseInteger("helper id", which, 0, S32_MAX)) : asm.helperByName(which);
        if (!one) throw new Error(`no helper function '${which}'`);
        list = [one];
      }
      if (opts.json) {
        io.out(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      for (const h of list) io.out(`${String(h.id).padStart(4)}  ${h.prototype ?? h.name}\n`);
    });
}
