/**
 * A verifier rejection of an instruction CO-RE poisoned names the relocation: against a fake
 * kernel (whose verifier log says what the real one says) and a target BTF without the field.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { slotCount } from "../../src/asm/index.js";
import { POISON_HELPER_ID, accessorText, coreGuard, findPoisonedRelocation, type CoreResolution } from "../../src/btf/core/index.js";
import { CoreReloKind } from "../../src/btf/ext.js";
import type { Btf } from "../../src/btf/index.js";
import { readCollectionSpec, relocateProgram } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { VerifierError, poisonedCallIndex, withPoisonedRelocation } from "../../src/runtime/verifier-error.js";
import { useKernel } from "../../src/syscall/index.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

const spec = (name: string) => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));
// The target: core.bpf.c's own BTF, whose struct task_struct has pid but no no_such_field.
const target = () => spec("core").btf as Btf;

let restore: (() => void) | undefined;
afterEach(() => restore?.());

const verifierLog = (insn: number, source = "; out = BPF_CORE_READ(t, no_such_field); @ core_missing.bpf.c:24") =>
  `func#0 @0\n0: R1=ctx() R10=fp0\n${source}\n${insn}: (85) call unknown#${POISON_HELPER_ID}\ninvalid func unknown#${POISON_HELPER_ID}\nprocessed 20 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0\n`;

function loadError(log: (poisoned: number) => string): unknown {
  const s = spec("core_missing");
  const relocated = relocateProgram(s, s.programs.get("read_missing")!, target());
  // The slot of the poisoned call (an lddw takes two).
  let poisoned = -1;
  for (let i = 0, slot = 0; i < relocated.instructions.length && poisoned < 0; slot += slotCount(relocated.instructions[i]!), i++) {
    const ins = relocated.instructions[i]!;
    if (ins.opcode === 0x85 && ins.imm === POISON_HELPER_ID) poisoned = slot;
  }
  expect(poisoned).toBeGreaterThan(0);
  const k = new FakeKernel();
  restore = useKernel(k);
  k.progLoad = () => ({ errno: 22, log: log(poisoned) });
  try {
    Collection.load(s, { targetBtf: target() }).close();
  } catch (e) {
    expect(k.open.size).toBe(0);
    return e;
  }
  throw new Error("loaded");
}

describe("CO-RE failures named (fake kernel)", () => {
  it("the VerifierError names relocation number, instruction, kind, local type, accessor and why", () => {
    const e = loadError((i) => verifierLog(i)) as VerifierError;
    expect(e).toBeInstanceOf(VerifierError);
    const r = e.summary.relocation;
    expect(r).toMatchObject({ number: 1, kind: "FIELD_BYTE_OFFSET", accessor: "struct task_struct___old.no_such_field", accessStr: "0:1" });
    expect(r?.localType).toMatch(/^\[\d+\] struct task_struct___old$/);
    expect(r?.reason).toMatch(/no member no_such_field/);
    expect(e.message).toBe(
      `program "read_missing": relo #1: failed to resolve CO-RE relocation of insn #${r?.insnIndex}: FIELD_BYTE_OFFSET of struct task_struct___old.no_such_field (access "0:1", local type ${r?.localType}): ${r?.reason}; ` +
        `the loader poisoned the instruction (as libbpf does) and the verifier rejected it (EINVAL) at ${r?.insnIndex}: (85) call unknown#${POISON_HELPER_ID}: invalid func unknown#${POISON_HELPER_ID} ` +
        `(core_missing.bpf.c:24: out = BPF_CORE_READ(t, no_such_field);); guard the access with bpf_core_field_exists() where the kernel may lack it`,
    );
    // The summary keeps the verifier's own words too.
    expect(e.summary.reason).toBe(`invalid func unknown#${POISON_HELPER_ID}`);
  });

  it("other rejections, and a poison call the relocations do not explain, keep the verifier's message", () => {
    const other = loadError(() => "0: (b7) r0 = 0\n5: (85) call bpf_map_lookup_elem#1\nR1 type=ctx expected=map_ptr\n") as VerifierError;
    expect(other.summary.relocation).toBeUndefined();
    expect(other.message).toBe(`program "read_missing": verifier rejected it (EINVAL) at 5: (85) call bpf_map_lookup_elem#1: R1 type=ctx expected=map_ptr`);
    const elsewhere = loadError((i) => verifierLog(i + 1, "; x @ f.c:1")) as VerifierError;
    expect(elsewhere.summary.relocation).toBeUndefined();
    expect(elsewhere.message).toMatch(/^program "read_missing": verifier rejected it \(EINVAL\) at \d+: \(85\) call unknown#195896080: invalid func unknown#195896080 \(f\.c:1: x\)$/);
  });

  it("withPoisonedRelocation leaves other errors alone and never throws from recomputing", () => {
    const plain = new Error("x");
    expect(withPoisonedRelocation(plain, () => [])).toBe(plain);
    const v = new VerifierError("p", 22, verifierLog(3));
    expect(withPoisonedRelocation(v, () => {
      throw new Error("cannot");
    })).toBe(v);
    expect(poisonedCallIndex(verifierLog(3))).toBe(3);
    expect(poisonedCallIndex("3: (85) call unknown#195896080\nR1 !read_ok\n")).toBeUndefined();
  });
});

describe("findPoisonedRelocation", () => {
  const res = (over: Partial<CoreResolution>): CoreResolution => ({
    kind: CoreReloKind.FIELD_BYTE_OFFSET,
    kindName: "FIELD_BYTE_OFFSET",
    insnIndex: 0,
    accessStr: "0:1",
    path: "struct s::a.b",
    localType: "[1] struct s",
    local: 0,
    target: 0,
    poison: false,
    validate: true,
    description: "",
    ...over,
  });

  it("finds the poisoned resolution at the slot, and nothing at other slots or unpoisoned ones", () => {
    const list = [res({ insnIndex: 2 }), res({ insnIndex: 5, poison: true, target: undefined, reason: "gone" }), res({ insnIndex: 9 })];
    expect(findPoisonedRelocation(list, 5)).toMatchObject({ number: 1, insnIndex: 5, accessor: "struct s.a.b", reason: "gone" });
    expect(findPoisonedRelocation(list, 6)).toBeUndefined();
    expect(findPoisonedRelocation(list, 2)).toBeUndefined();
    expect(findPoisonedRelocation(list, 7)).toBeUndefined();
  });

  it("a load whose field changed size and cannot be resized is named with both sizes", () => {
    const list = [res({ insnIndex: 4, localSize: 4, targetSize: 8, resizeProblem: "a signed field cannot be widened" })];
    expect(findPoisonedRelocation(list, 4)?.reason).toBe("the field changed size from 4 to 8 bytes; a signed field cannot be widened");
  });

  it("accessors are written as libbpf writes them; the guard follows the kind", () => {
    expect(accessorText({ kind: CoreReloKind.FIELD_BYTE_OFFSET, path: "struct task_struct::comm[3]" })).toBe("struct task_struct.comm[3]");
    expect(accessorText({ kind: CoreReloKind.FIELD_EXISTS, path: "struct foo[2]::x.y" })).toBe("struct foo[2].x.y");
    expect(accessorText({ kind: CoreReloKind.ENUMVAL_VALUE, path: "enum tcp_ca_state::TCP_CA_Loss" })).toBe("enum tcp_ca_state::TCP_CA_Loss");
    expect(accessorText({ kind: CoreReloKind.TYPE_SIZE, path: "struct sock" })).toBe("struct sock");
    expect([coreGuard("FIELD_BYTE_OFFSET"), coreGuard("TYPE_SIZE"), coreGuard("ENUMVAL_VALUE")]).toEqual(["bpf_core_field_exists()", "bpf_core_type_exists()", "bpf_core_enum_value_exists()"]);
  });
});
