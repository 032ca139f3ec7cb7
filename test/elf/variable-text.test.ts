/** Global variables set from text (`tsebpf load --set NAME=VALUE`), typed by BTF. */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NotFoundError } from "../../src/errors.js";
import { VariableError, getVariable, getVariableInteger, readCollectionSpec, setVariableText } from "../../src/elf/index.js";
import { tsebpf } from "../cli/run.js";
import { assertProperty } from "../helpers/property.js";

const spec = (order: "el" | "eb" = "el") => readCollectionSpec(readFileSync(`test/fixtures/globals.bpf${order}.o`));

describe("setVariableText", () => {
  it("integers in decimal, hex, octal and binary, in both byte orders", () => {
    for (const order of ["el", "eb"] as const) {
      const s = spec(order);
      setVariableText(s, "threshold", "0x10");
      expect(getVariableInteger(s, "threshold")).toBe(16n);
      setVariableText(s, "counter", "18446744073709551615");
      expect(getVariableInteger(s, "counter")).toBe(18446744073709551615n);
      setVariableText(s, "custom_data", "0b101");
      expect(getVariableInteger(s, "custom_data")).toBe(5n);
    }
  });

  it("out of range, not a number, negative for unsigned: VariableError naming the variable and its type", () => {
    const s = spec();
    expect(() => setVariableText(s, "threshold", "4294967296")).toThrow(/variable threshold \(.*__u32.*\): 4294967296 is out of range \(0\.\.4294967295\)/);
    expect(() => setVariableText(s, "threshold", "-1")).toThrow(VariableError);
    expect(() => setVariableText(s, "threshold", "seven")).toThrow(/'seven' is not an integer/);
    expect(() => setVariableText(s, "no_such", "1")).toThrow(NotFoundError);
  });

  it("char[] takes a string (NUL-padded, must fit); structs take hex bytes of their size", () => {
    const s = spec();
    setVariableText(s, "banner", "hello");
    expect(Buffer.from(getVariable(s, "banner")).toString("latin1")).toBe("hello\0\0\0");
    expect(() => setVariableText(s, "banner", "much too long")).toThrow(/13 bytes, the variable holds 8/);
    setVariableText(s, "cfg", "51 00 00 00 02 00 00 00 e8 03 00 00 00 00 00 00");
    expect(Buffer.from(getVariable(s, "cfg")).readUInt32LE(0)).toBe(0x51);
    expect(() => setVariableText(s, "cfg", "01 02")).toThrow(/2 bytes given, the variable has 16/);
  });

  it("any u32 written as text reads back as itself", () => {
    const s = spec();
    assertProperty(
      fc.property(fc.nat({ max: 0xffffffff }), fc.constantFrom((n: number) => String(n), (n: number) => `0x${n.toString(16)}`), (n, fmt) => {
        setVariableText(s, "threshold", fmt(n));
        expect(getVariableInteger(s, "threshold")).toBe(BigInt(n));
      }),
    );
  });
});

describe("tsebpf load --set", () => {
  it("bad assignments are one line naming the variable, before anything is loaded", async () => {
    for (const [arg, message] of [
      ["threshold", /--set: expected NAME=VALUE, not 'threshold'/],
      ["nope=1", /--set nope=1: no variable "nope" in this object \(there are: /],
      ["threshold=99999999999", /--set threshold=99999999999: variable threshold \(.*\): 99999999999 is out of range/],
    ] as const) {
      const r = await tsebpf("load", "test/fixtures/globals.bpfel.o", "--set", arg);
      expect(r.code, arg).toBe(1);
      expect(r.stderr, arg).toMatch(message);
      expect(r.stderr.split("\n"), arg).toHaveLength(2);
    }
  });
});
