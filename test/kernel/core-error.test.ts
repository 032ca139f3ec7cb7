/**
 * A CO-RE read of a field this kernel lacks: the loader poisons the instruction (as libbpf does)
 * and the verifier's rejection names the relocation — number, instruction, kind, local type and
 * accessor — instead of only "call unknown#195896080: invalid func".
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { POISON_HELPER_ID } from "../../src/btf/core/index.js";
import { readCollectionSpec, setVariable } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { VerifierError } from "../../src/runtime/verifier-error.js";
import { TsebpfError } from "../../src/errors.js";
import { describeKernel } from "../helpers/kernel.js";

const spec = () => readCollectionSpec(readFileSync("test/fixtures/core_missing.bpfel.o"));

describeKernel("CO-RE failures named", () => {
  it("a guarded read of a missing field loads: the poisoned call is dead code the verifier skips", () => {
    using c = Collection.load(spec());
    expect(c.program("read_missing").testRun({ context: Buffer.alloc(8) }).returnValue).toBe(0);
  });

  it("an unguarded one is a VerifierError naming relocation, instruction, kind, local type and accessor", () => {
    const s = spec();
    setVariable(s, "use_missing", 1);
    let error: unknown;
    try {
      Collection.load(s).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VerifierError);
    expect(error).toBeInstanceOf(TsebpfError);
    const v = error as VerifierError;
    // The relocation of the read of no_such_field (#0 is the read of pid), at the slot the log names.
    expect(v.summary.relocation).toMatchObject({
      number: 1,
      kind: "FIELD_BYTE_OFFSET",
      accessor: "struct task_struct___old.no_such_field",
      accessStr: "0:1",
      localType: expect.stringMatching(/^\[\d+\] struct task_struct___old$/),
    });
    const insn = v.summary.relocation?.insnIndex as number;
    expect(v.log).toContain(`${insn}: (85) call unknown#${POISON_HELPER_ID}`);
    expect(v.summary.reason).toBe(`invalid func unknown#${POISON_HELPER_ID}`);
    expect(v.message).toMatch(
      new RegExp(
        `^program "read_missing": relo #1: failed to resolve CO-RE relocation of insn #${insn}: FIELD_BYTE_OFFSET of struct task_struct___old\\.no_such_field \\(access "0:1", local type \\[\\d+\\] struct task_struct___old\\): .*no_such_field.*; the loader poisoned the instruction \\(as libbpf does\\) and the verifier rejected it \\(EINVAL\\) at ${insn}: \\(85\\) call unknown#${POISON_HELPER_ID}: invalid func unknown#${POISON_HELPER_ID} \\(core_missing\\.bpf\\.c:\\d+[^)]*\\); guard the access with bpf_core_field_exists\\(\\) where the kernel may lack it$`,
      ),
    );
    expect(v.message).not.toContain("\n");
    console.log(v.message);
  });
});
