import { Option } from "commander";
import { CliError } from "../io.js";

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

/** The largest value of a C `__u32` (kernel object ids, repeat counts, log levels). */
export const U32_MAX = 0xffff_ffff;
/** The largest value of a C `__s32` (helper ids: the immediate of a call instruction). */
export const S32_MAX = 0x7fff_ffff;

/**
 * A decimal integer typed by the user, checked against the range of the C field it goes into
 * (so `--id 4294967297` is refused instead of wrapping to id 1). `what` names the option or
 * argument in the one-line error: `--id must be from 0 to 4294967295, not '4294967297'`.
 */
export function parseInteger(what: string, text: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text)) throw new CliError(`${what} must be a number, not '${text}'`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new CliError(`${what} must be from ${min} to ${max}, not '${text}'`);
  return value;
}

/** A commander argument parser for an integer option in [min, max]. */
export const integerOption =
  (what: string, min: number, max: number) =>
  (text: string): number =>
    parseInteger(what, text, min, max);
