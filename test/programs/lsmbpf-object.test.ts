/**
 * The committed lsmbpf object: both engines' programs in their sections, the maps the library
 * fills and reads, and struct chroot_event as the generated view reads it.
 */
import { describe, expect, it } from "vitest";
import { ChrootEventCodec } from "../../src/programs/lsmbpf/lsmbpf.gen.js";
import { programObject } from "../helpers/struct-layout.js";

const { spec, layout } = programObject("lsmbpf");

describe("lsmbpf object", () => {
  it("has the lsm program on path_chroot and the signal program on sys_exit_chroot", () => {
    expect([...spec.programs.values()].map((p) => [p.name, p.sectionName]).sort()).toEqual([
      ["lsmbpf_lsm", "lsm/path_chroot"],
      ["lsmbpf_signal", "tracepoint/syscalls/sys_exit_chroot"],
    ]);
  });

  it("has the maps the library uses, and the mode as a writable global", () => {
    expect(spec.maps.get("events")).toMatchObject({ typeName: "RINGBUF" });
    expect(spec.maps.get("stats")).toMatchObject({ keySize: 4, valueSize: 8, maxEntries: 9 });
    expect(spec.maps.get("allow_comms")).toMatchObject({ keySize: 16, valueSize: 1, maxEntries: 256 });
    expect(spec.maps.get("allow_cgroups")).toMatchObject({ keySize: 8, valueSize: 1, maxEntries: 256 });
    expect(spec.variables.get("audit_mode")).toMatchObject({ map: ".bss", size: 4, readOnly: false });
  });

  it("struct chroot_event is what the generated view reads", () => {
    const l = layout("chroot_event");
    expect(l.size).toBe(ChrootEventCodec.size);
    expect(l.members).toEqual(Object.entries(ChrootEventCodec.fields).map(([name, f]) => [name, f.offset]));
    expect(l.members.map(([n]) => n)).toEqual(["time_ns", "cgroup_id", "root_ino", "root_dev", "pid", "tid", "ns_pid", "pidns_ino", "error", "engine", "action", "pad", "comm", "target"]);
  });
});
