import { Option } from "commander";

/** `--order little|big` (aliases: bpfel, bpfeb). */
export const byteOrderOption = () =>
  new Option("--order <order>", "byte order of the instructions: little (bpfel) or big (bpfeb)")
    .choices(["little", "big", "bpfel", "bpfeb"])
    .default("little")
    .argParser((v: string) => {
      if (v === "bpfel" || v === "little") return "little";
      if (v === "bpfeb" || v === "big") return "big";
      throw new Error(`--order: expected little or big, not '${v}'`);
    });
