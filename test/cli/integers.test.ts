/** Numbers typed on the command line are checked against the range of the C field they fill. */
import { describe, expect, it } from "vitest";
import { S32_MAX, U32_MAX, parseInteger } from "../../src/cli/commands/options.js";
import { tsebpf } from "./run.js";

describe("integer options", () => {
  it("parseInteger: decimal integers in [min, max]; anything else one line naming the option and the value", () => {
    expect(parseInteger("--id", "0", 0, U32_MAX)).toBe(0);
    expect(parseInteger("--id", "4294967295", 0, U32_MAX)).toBe(4294967295);
    expect(parseInteger("--id", "007", 0, U32_MAX)).toBe(7);
    expect(parseInteger("x", "-5", -10, 10)).toBe(-5);
    expect(parseInteger("helper id", String(S32_MAX), 0, S32_MAX)).toBe(S32_MAX);
    expect(() => parseInteger("--id", "4294967296", 0, U32_MAX)).toThrow("--id must be from 0 to 4294967295, not '4294967296'");
    expect(() => parseInteger("--id", "-1", 0, U32_MAX)).toThrow("--id must be from 0 to 4294967295, not '-1'");
    expect(() => parseInteger("--id", "99999999999999999999999", 0, U32_MAX)).toThrow("--id must be from 0 to 4294967295, not '99999999999999999999999'");
    for (const text of ["", "x", "1e3", "0x10", "1.5", " 1", "1 ", "+1", "--1"]) {
      expect(() => parseInteger("--id", text, 0, U32_MAX)).toThrow(`--id must be a number, not '${text}'`);
    }
  });

  // Each is refused before anything is opened: no kernel needed.
  const cases: [string[], string][] = [
    [["btf", "dump", "--id", "4294967297"], "--id must be from 0 to 4294967295, not '4294967297'"],
    [["btf", "dump", "--id", "-1"], "--id must be from 0 to 4294967295, not '-1'"],
    [["btf", "dump", "--id", "x"], "--id must be a number, not 'x'"],
    [["prog", "show", "id", "4294967297"], "program id must be from 0 to 4294967295, not '4294967297'"],
    [["prog", "dump", "xlated", "id", "18446744073709551617"], "program id must be from 0 to 4294967295, not '18446744073709551617'"],
    [["prog", "run", "id", "1", "--repeat", "4294967296"], "--repeat must be from 0 to 4294967295, not '4294967296'"],
    [["prog", "run", "id", "1", "--repeat", "ten"], "--repeat must be a number, not 'ten'"],
    [["map", "lookup", "id", "4294967296", "--key", "00"], "map id must be from 0 to 4294967295, not '4294967296'"],
    [["map", "lookup", "id", "x", "--key", "00"], "map id must be a number, not 'x'"],
    [["link", "detach", "id", "-2"], "link id must be from 0 to 4294967295, not '-2'"],
    [["helpers", "4294967297"], "helper id must be from 0 to 2147483647, not '4294967297'"],
    [["load", "test/fixtures/globals.bpfel.o", "--log-level", "4294967296"], "--log-level must be from 0 to 4294967295, not '4294967296'"],
    [["load", "test/fixtures/globals.bpfel.o", "--log-level", "verbose"], "--log-level must be a number, not 'verbose'"],
  ];
  for (const [argv, message] of cases) {
    it(`tsebpf ${argv.join(" ")}`, async () => {
      expect(await tsebpf(...argv)).toEqual({ code: 1, stdout: "", stderr: `tsebpf: ${message}\n` });
    });
  }
});
