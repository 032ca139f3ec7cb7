/**
 * The struct_ops probe: whether this kernel loads struct_ops programs, creates struct_ops maps and
 * registers one — tried for real with the smallest TCP congestion control the kernel accepts
 * (ssthresh, undo_cwnd and cong_avoid, each a two-instruction program), registered under a name
 * of this process and unregistered at once. The answer names the first step refused and its errno.
 */
import { MapType, ProgramType } from "../abi/index.js";
import * as asm from "../asm/index.js";
import { marshalBtf, skipModifiers, type BtfComposite } from "../btf/index.js";
import { Struct, bpfTry, btfLoad, errnoName, kernel, objectName, progLoad } from "../syscall/index.js";
import { kernelBtf } from "./kernel-btf.js";

/** What the probe found: `reason` is `<step>: <errno>` for the first step this kernel refused. */
export interface StructOpsProbeResult {
  readonly supported: boolean;
  readonly reason?: string;
}

/** The members a tcp_congestion_ops must fill, and what each minimal program returns. */
const MEMBERS: readonly (readonly [string, number])[] = [
  ["ssthresh", 2],
  ["undo_cwnd", 2],
  ["cong_avoid", 0],
];

const refused = (step: string, errno: number): StructOpsProbeResult => ({ supported: false, reason: `${step}: ${errnoName(errno)}` });

/** Runs the probe (uncached: probe.ts's probeStructOps caches it). The caller checks privileges first. */
export function probeStructOpsRegistration(): StructOpsProbeResult {
  let btf;
  try {
    btf = kernelBtf();
  } catch {
    return { supported: false, reason: "no kernel BTF" };
  }
  const structId = btf.find("tcp_congestion_ops", "struct");
  const valueId = btf.find("bpf_struct_ops_tcp_congestion_ops", "struct");
  if (structId === undefined || valueId === undefined) return { supported: false, reason: "no kernel BTF struct bpf_struct_ops_tcp_congestion_ops" };
  const struct = btf.type(structId) as BtfComposite;
  const value = btf.type(valueId) as BtfComposite;
  const holder = value.members.find((m) => skipModifiers(btf, m.type) === structId);
  const nameMember = struct.members.find((m) => m.name === "name");
  if (!holder || !nameMember) return { supported: false, reason: "unexpected layout of bpf_struct_ops_tcp_congestion_ops" };
  const fds: number[] = [];
  try {
    const buf = new Uint8Array(value.size);
    const view = new DataView(buf.buffer);
    const base = holder.bitOffset / 8;
    for (const [member, ret] of MEMBERS) {
      const index = struct.members.findIndex((m) => m.name === member);
      if (index < 0) return { supported: false, reason: `tcp_congestion_ops has no member ${member}` };
      const insns = asm.encode([asm.mov64Imm(asm.R0, ret), asm.exit()]);
      const { result } = progLoad({ name: `probe_${member}`, type: ProgramType.STRUCT_OPS, instructions: insns, license: "GPL", expectedAttachType: index, attachBtfId: structId });
      if (result < 0) return refused("loading a struct_ops program", -result);
      fds.push(result);
      view.setBigUint64(base + (struct.members[index] as { bitOffset: number }).bitOffset / 8, BigInt(result), true);
    }
    const name = `tsebpf_p${process.pid}`.slice(0, 15);
    buf.set(Buffer.from(name, "latin1"), base + nameMember.bitOffset / 8);
    const { result: objectBtf } = btfLoad(marshalBtf([{ kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]));
    if (objectBtf < 0) return refused("loading BTF for a struct_ops map", -objectBtf);
    fds.push(objectBtf);
    const a = new Struct("AttrMapCreate");
    a.set("map_type", MapType.STRUCT_OPS).set("key_size", 4).set("value_size", value.size).set("max_entries", 1);
    a.setBytes("map_name", objectName("probe_st_ops")).set("btf_fd", objectBtf).set("btf_vmlinux_value_type_id", valueId);
    const map = bpfTry("MAP_CREATE", a, a.end("map_extra"));
    if (map < 0) return refused("creating a struct_ops map", -map);
    fds.push(map);
    const key = new Uint8Array(4);
    const elem = new Struct("AttrMapElem");
    elem.set("map_fd", map).set("key", kernel().address(key)).set("value", kernel().address(buf));
    const r = bpfTry("MAP_UPDATE_ELEM", elem, elem.end("flags"));
    // EEXIST: one of this name is registered (another probe of this process): registering works.
    if (r < 0 && -r !== 17) return refused("registering (the map update builds BPF trampolines)", -r);
    if (r >= 0) {
      const del = new Struct("AttrMapElem");
      del.set("map_fd", map).set("key", kernel().address(key));
      bpfTry("MAP_DELETE_ELEM", del, del.end("value"));
    }
    void key;
    void buf;
    return { supported: true };
  } finally {
    for (const fd of fds) kernel().close(fd);
  }
}
