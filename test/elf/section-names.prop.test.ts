// Invariant: for every section name libbpf 1.1 knows, tsebpf's program type and expected attach type are libbpf_prog_type_by_name's; others match only newer, cilium or `?` rules.
/**
 * tsebpf's section-name rules against libbpf's own: for random names — the table's patterns,
 * mutated, with suffixes, and random strings — the program type and expected attach type tsebpf
 * decides equal what libbpf_prog_type_by_name answers, for every name libbpf knows.
 *
 * The oracle is the system's libbpf (1.1 on Debian 12). Names it does not know are left out:
 * tsebpf knows newer ones (tcx/*, netkit/*, sk_skb/verdict, kprobe.session, cgroup/*_unix, …),
 * cilium/ebpf's `<type>/<anything>` form, and `?`-prefixed names (libbpf strips the `?` before it
 * looks a name up; libbpf_prog_type_by_name does not). Where libbpf 1.1 and newer libbpf differ
 * on a name both know, tsebpf follows the newer libbpf; no such name exists today (1.1's entries
 * all kept their type and attach type), so the property holds without exceptions.
 */
import fc from "fast-check";
import { describe, expect } from "vitest";
import { LEGACY_SECTION_TABLE, SECTION_TABLE, classifySection, programKind } from "../../src/elf/index.js";
import { assertProperty, propertyRuns } from "../helpers/property.js";
import { itWith } from "../helpers/oracle.js";
import { libbpfMissing } from "../helpers/libbpf.js";
import { libbpfProgTypeByName } from "../helpers/libbpf-sections.js";

const stems = [...new Set([...SECTION_TABLE, ...LEGACY_SECTION_TABLE].map((e) => e.pattern.replace(/[+/]$/, "")))];
const suffixes = ["", "/", "/x", "/sched/sched_switch", "_x", "1", ".s", ".s/f", ".w/t", ".multi/f*", "/ingress", "/egress", "/devmap", "/cpumap", "/1", "-demo", "foo", "/stream_verdict", "/verdict"];

/** A section name: a known stem, possibly mutated, with a suffix; or a random string. */
const target = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz_/.:0123456789"), maxLength: 16 });

/** A name a table entry matches: the exact name, or for a `+` entry the name with a `/target`. */
const tableName: fc.Arbitrary<string> = fc.tuple(fc.constantFrom(...SECTION_TABLE), fc.boolean(), target).map(([e, slash, t]) =>
  e.pattern.endsWith("+") ? `${e.pattern.slice(0, -1)}${slash ? `/${t}` : ""}` : e.pattern,
);

const sectionName: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: tableName },
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...stems), fc.constantFrom(...suffixes)).map(([s, x]) => s + x) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...stems), fc.nat(), fc.constantFrom("drop", "upper", "dup")).map(([s, at, how]) => {
      const i = at % Math.max(1, s.length);
      if (how === "drop") return s.slice(0, i) + s.slice(i + 1);
      if (how === "upper") return s.toUpperCase();
      return s.slice(0, i) + s.slice(i);
    }),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...stems), fc.constantFrom(...stems)).map(([a, b]) => `${a}/${b}`) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz_/.-?0123456789"), maxLength: 24 }) },
);

describe("section names against libbpf_prog_type_by_name", () => {
  itWith(libbpfMissing)("type and expected attach type equal libbpf's for every name libbpf knows", () => {
    // Every pattern of the table, exactly, first: each one libbpf knows must agree.
    const exact = SECTION_TABLE.map((e) => e.pattern.replace(/\+$/, ""));
    const answers = libbpfProgTypeByName(exact);
    let known = 0;
    exact.forEach((name, i) => {
      const a = answers[i]!;
      if (!a.known) return;
      known++;
      const k = classifySection(name);
      expect({ name, type: k?.programType, attach: k?.attachType ?? 0 }).toEqual({ name, type: a.type, attach: a.attach });
    });
    // libbpf 1.1 knows most of the table (the rest is newer).
    expect(known).toBeGreaterThanOrEqual(80);

    // Then random names, in batches (one helper run per batch).
    let compared = 0;
    assertProperty(
      fc.property(fc.array(sectionName, { minLength: 100, maxLength: 200 }), (names) => {
        const clean = names.filter((n) => n.length > 0);
        const libbpf = libbpfProgTypeByName(clean);
        clean.forEach((name, i) => {
          const a = libbpf[i]!;
          if (!a.known) return;
          compared++;
          const k = programKind(name);
          expect(k.typeSource, name).toBe("section");
          expect({ name, type: k.programType, attach: k.attachType ?? 0 }).toEqual({ name, type: a.type, attach: a.attach });
        });
      }),
      { numRuns: 30 },
    );
    expect(compared).toBeGreaterThan(propertyRuns(30) * 20);
  });

  itWith(libbpfMissing)("a name libbpf does not know is a libbpf 0.x guess or unspecified, never a 1.x rule libbpf 1.1 would have (except newer names and forms)", () => {
    const names = fc.sample(sectionName, propertyRuns(3_000));
    const libbpf = libbpfProgTypeByName(names);
    names.forEach((name, i) => {
      if (libbpf[i]!.known) return;
      const k = programKind(name);
      if (k.typeSource !== "section") return;
      // tsebpf knows it by a rule libbpf 1.1 lacks: a newer entry, cilium's form, or a "?" name.
      const bare = name.replace(/^\?/, "");
      const newer = /^(tcx?\/(ingress|egress)|netkit\/|sk_skb\/verdict|kprobe\.session|uprobe\.(multi|session)|uretprobe\.multi|kretsyscall|ksyscall|usdt|cgroup\/\w+_unix|struct_ops\.s|tracepoint|tp|raw_tp|raw_tracepoint|iter\.s|lsm_cgroup|netfilter|uprobe\.s|uretprobe\.s|usdt\.s)/.test(bare);
      const cilium = /^[^/]+\//.test(bare) && k.pattern.endsWith("/*");
      expect(newer || cilium || name.startsWith("?"), `${name} (${k.pattern})`).toBe(true);
    });
  });
});
