import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { takeAddressRuns } from "../../src/programs/common/address-runs.js";
import { parseYaml } from "../../src/programs/common/config.js";
import { assertProperty } from "../helpers/property.js";

/** What the yaml package gives for the whole text: the value, or that it has errors. */
function reference(text: string): { value?: unknown; error?: true } {
  try {
    return { value: parseYaml(text, "t.yml") };
  } catch {
    return { error: true };
  }
}

/** What the runs path gives: the value, "fallback" where it defers to the yaml package. */
function viaRuns(text: string): { value?: unknown; error?: true } | "fallback" {
  const runs = takeAddressRuns(text, 1);
  if (!runs) return "fallback";
  const doc = parseDocument(runs.text, { uniqueKeys: true });
  if (doc.errors.length) return "fallback";
  let value: unknown;
  try {
    value = runs.restore(doc.toJS());
  } catch {
    return "fallback";
  }
  return value === undefined ? "fallback" : { value };
}

const token = fc.stringMatching(/^[0-9a-f.:/]{1,12}$/);
const address = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join(".")),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(32)).map(([a, b, l]) => `${a}.${b}.0.0/${l}`),
  fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([a, b]) => `${a.toString(16)}::${b.toString(16)}`),
  token,
);
const indent = fc.constantFrom("", "  ", "    ");
const line = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(indent, address).map(([i, a]) => `${i}- ${a}`) },
  fc.tuple(indent, fc.constantFrom("a", "block", "allow", "ipv4", "key")).map(([i, k]) => `${i}${k}:`),
  fc.tuple(indent, address).map(([i, a]) => `${i}- "${a}"`),
  fc.tuple(indent, address).map(([i, a]) => `${i}- ${a} # note`),
  fc.constantFrom("", "# comment", "text: |", "list: &l", "again: *l", "- - 10.0.0.1", "x: [1.2.3.4,", "  5.6.7.8]", "%YAML 1.1", "---", "- 1.5", "- fd00:", "\r"),
);

describe("address runs (fast parsing of long address lists)", () => {
  it("gives what the yaml package gives, or defers to it: random documents of address items and the YAML around them", () => {
    let compared = 0;
    assertProperty(
      fc.property(fc.array(line, { maxLength: 40 }), fc.boolean(), (lines, crlf) => {
        const text = lines.join(crlf ? "\r\n" : "\n");
        const fast = viaRuns(text);
        if (fast === "fallback") return;
        compared++;
        expect(fast).toEqual(reference(text));
      }),
      { numRuns: 3000 },
    );
    // About one document in ten is valid and has runs: the comparison is what this test does.
    expect(compared).toBeGreaterThan(100);
  });

  it("takes a long list apart and puts it back, in order, among other keys", () => {
    const items = Array.from({ length: 1000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const text = `rules:\n  interface: eth0\n  ipv4:\n    block:\n${items.map((a) => `      - ${a}`).join("\n")}\n    allow:\n      - 10.0.0.1\n      - "10.0.0.2"\n  ipv6: { default: block }\n`;
    const runs = takeAddressRuns(text);
    expect(runs?.text.split("\n").length).toBeLessThan(20);
    expect(parseYaml(text, "t.yml")).toEqual(reference(text).value);
  });

  it("an alias to no anchor is one ConfigError line, not a crash", () => {
    expect(() => parseYaml("a: *nothing\n", "t.yml")).toThrow(/^t\.yml: Unresolved alias/);
  });

  it("leaves short lists, and errors, to the yaml package (line numbers as in the file)", () => {
    expect(takeAddressRuns("a:\n  - 10.0.0.1\n")).toBeUndefined();
    const items = Array.from({ length: 300 }, (_, i) => `  - 10.0.${i >> 8}.${i & 255}`).join("\n");
    expect(() => parseYaml(`a:\n${items}\nb: 1\nb: 2\n`, "t.yml")).toThrow(/^t\.yml:303:1: Map keys must be unique/);
  });
});
