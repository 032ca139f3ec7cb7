/**
 * What the kernel needs changed in an object's BTF before BPF_BTF_LOAD accepts it, done in place
 * on a copy so that type ids and string offsets (which BTF.ext records use) stay valid:
 * extern VARs become globals and extern FUNCs typedefs (the kernel accepts no extern linkage), VARs of void type
 * (typeless ksyms) get an int type, and every entry of the `.ksyms` DATASEC (kfunc FUNCs, ksym
 * VARs) is replaced by a 4-byte dummy VAR, as libbpf does. Extern VARs declared in other sections
 * leave their DATASEC first (src/btf/datasec-kernel.ts).
 */
import { Btf } from "./btf.js";
import { fitDatasecsForKernel } from "./datasec-kernel.js";
import { skipModifiers } from "./query.js";
import { readBtfHeader } from "./header.js";
import type { BtfDatasec } from "./types.js";

const VAR_KIND = 14;
const INT_KIND = 1;
const TYPEDEF_KIND = 8;
const DUMMY_NAME = "__tsebpf_ksym";

/**
 * Returns a BTF blob the kernel loads; `original` itself is not changed. DATASECs are fitted first
 * (fitDatasecsForKernel: externs out of sections that do not back them, variables in offset order).
 */
export function sanitizeForKernel(original: Uint8Array, originalBtf: Btf): Uint8Array {
  const blob = fitDatasecsForKernel(original, originalBtf);
  const btf = blob === original ? originalBtf : new Btf(blob);
  const le = btf.byteOrder === "little";
  const { hdrLen, typeOff, typeLen, strOff, strLen } = readBtfHeader(blob, le);

  const ksymsId = btf.find(".ksyms", "datasec");
  const externVars: number[] = [];
  const externFuncs: number[] = [];
  for (const id of btf.ids()) {
    const kind = btf.kindOf(id);
    if (kind !== "var" && kind !== "func") continue;
    const t = btf.type(id) as { linkage: string; type: number };
    if (t.linkage === "extern") (kind === "var" ? externVars : externFuncs).push(id);
  }
  const voidVar = (id: number) => btf.type(skipModifiers(btf, (btf.type(id) as { type: number }).type)) === undefined;
  const needDummy = ksymsId !== undefined || externVars.some(voidVar);

  // New types appended: an int and a VAR of it, named DUMMY_NAME (string appended too).
  const extraTypes = needDummy ? 16 + 16 : 0;
  const extraStrings = needDummy ? Buffer.byteLength(DUMMY_NAME) + 1 : 0;
  const out = new Uint8Array(blob.byteLength + extraTypes + extraStrings);
  const typesEnd = hdrLen + typeOff + typeLen;
  out.set(blob.subarray(0, typesEnd), 0);
  out.set(blob.subarray(typesEnd), typesEnd + extraTypes);
  const v = new DataView(out.buffer);
  const dummyVar = btf.typeCount + 2;
  if (needDummy) {
    const nameOff = strLen;
    let p = typesEnd;
    // [n+1] INT "" size 4, 32 bits signed
    v.setUint32(p, 0, le);
    v.setUint32(p + 4, INT_KIND << 24, le);
    v.setUint32(p + 8, 4, le);
    v.setUint32(p + 12, (1 << 24) | 32, le);
    p += 16;
    // [n+2] VAR DUMMY_NAME type n+1, linkage global-allocated
    v.setUint32(p, nameOff, le);
    v.setUint32(p + 4, VAR_KIND << 24, le);
    v.setUint32(p + 8, btf.typeCount + 1, le);
    v.setUint32(p + 12, 1, le);
    const strStart = hdrLen + strOff + extraTypes;
    out.set(Buffer.from(`${DUMMY_NAME}\0`), strStart + strLen);
    v.setUint32(12, typeLen + extraTypes, le);
    v.setUint32(16, strOff + extraTypes, le);
    v.setUint32(20, strLen + extraStrings, le);
  }
  // Record positions before the appended types are unchanged by the insertion.
  for (const id of externVars) {
    const pos = btf.recordPosition(id);
    if (voidVar(id)) v.setUint32(pos + 8, btf.typeCount + 1, le);
    v.setUint32(pos + 12, 1, le); // extern -> global allocated
  }
  for (const id of externFuncs) {
    // A kfunc's declaration: the kernel rejects extern FUNCs (and FUNCs whose parameters have no
    // names, which clang emits for declarations). Only tsebpf needs it, to find the kfunc by
    // name: it becomes a TYPEDEF of its prototype, same name, same id.
    const pos = btf.recordPosition(id);
    v.setUint32(pos + 4, TYPEDEF_KIND << 24, le);
  }
  if (ksymsId !== undefined) {
    const ds = btf.type(ksymsId) as BtfDatasec;
    const pos = btf.recordPosition(ksymsId);
    ds.vars.forEach((_sec, i) => {
      const at = pos + 12 + i * 12;
      v.setUint32(at, dummyVar, le);
      v.setUint32(at + 4, i * 4, le);
      v.setUint32(at + 8, 4, le);
    });
    v.setUint32(pos + 8, Math.max(4, ds.vars.length * 4), le);
  }
  return out;
}
