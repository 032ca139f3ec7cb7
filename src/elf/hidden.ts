/**
 * Hidden global functions (`__hidden`, visibility STV_HIDDEN: usdt.bpf.h's bpf_usdt_arg …) are
 * global only to the linker; like libbpf, the loader gives them static linkage in the BTF the
 * kernel sees, so the verifier checks them with their caller's argument types (a global
 * function is verified alone, its pointer arguments possibly NULL).
 */
import { Btf } from "../btf/index.js";
import { STB, STT, STV } from "./constants.js";
import type { ElfSymbol } from "./reader.js";

/** The BTF with the FUNC of every hidden global function symbol static; the same object when there is none. */
export function hideFunctions(btf: Btf, symbols: readonly ElfSymbol[]): Btf {
  const hidden = new Set(symbols.filter((s) => s.type === STT.FUNC && s.bind !== STB.LOCAL && s.visibility === STV.HIDDEN).map((s) => s.name));
  if (hidden.size === 0) return btf;
  const out = Uint8Array.from(btf.bytes);
  const view = new DataView(out.buffer);
  const le = btf.byteOrder === "little";
  let changed = false;
  for (const id of btf.ids()) {
    const t = btf.type(id);
    if (t?.kind !== "func" || t.linkage === "static" || !hidden.has(t.name)) continue;
    // struct btf_type: name_off, info (vlen in the low 16 bits: a FUNC's linkage), type.
    const pos = btf.recordPosition(id) + 4;
    view.setUint32(pos, view.getUint32(pos, le) & ~0xffff, le);
    changed = true;
  }
  return changed ? new Btf(out) : btf;
}
