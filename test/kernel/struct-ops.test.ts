/**
 * struct_ops on the real kernel: a TCP congestion control written in BPF (test/fixtures/
 * struct_ops.bpf.c) loaded, registered through its map (`.struct_ops`) and through a struct_ops
 * link (`.struct_ops.link`), used by a TCP connection over loopback in a netns, and unregistered.
 * Which branch is asserted follows probeStructOps(): where the kernel refuses a step, the step
 * and its errno are a NotSupportedError.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ProgramType } from "../../src/abi/index.js";
import { readCollectionSpec, type CollectionSpec, type StructOpsMapSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { kernelBtf } from "../../src/runtime/kernel-btf.js";
import { probeStructOps } from "../../src/runtime/probe.js";
import { StructOpsError } from "../../src/runtime/struct-ops.js";
import { bpftool, bpftoolJson, bpftoolMissing } from "../helpers/bpftool.js";
import { trackOwnObjects } from "../helpers/kernel-objects.js";
import { NetNs, describeKernel } from "../helpers/kernel.js";
import { itWith } from "../helpers/oracle.js";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runtime } from "../../src/index.js";
import { BpfMap } from "../../src/runtime/map.js";
import { packageRoot } from "../helpers/dist.js";

const FIXTURE = "test/fixtures/struct_ops.bpfel.o";
/** The built CLI: the repository's dist/ when fresh, else a build of its own. */
const CLI = join(packageRoot(), "dist", "cli", "main.js");

/** Waits until `done()` holds (the kernel frees a link whose pin is removed a little later); asserts it. */
async function eventually(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(done(), what).toBe(true);
}

/** Unregisters a .struct_ops registration another process left (by the map's name). */
function unregisterLeftover(name: string): void {
  for (const m of runtime.listMaps().filter((x) => x.name === name && x.type === 26)) {
    using map = BpfMap.fromId(m.id);
    map.delete(new Uint8Array(4));
  }
}
const spec = (): CollectionSpec => readCollectionSpec(readFileSync(FIXTURE));
const available = (): string[] => readFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control", "utf8").trim().split(/\s+/);

/** A TCP connection over loopback in `ns` with TCP_CONGESTION `cc`: what getsockopt says and the bytes received. */
const TCP_CLIENT = `
import socket, sys, threading
cc = sys.argv[1].encode()
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
cli = socket.socket()
cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc)
cli.connect(srv.getsockname())
conn, _ = srv.accept()
data = b"x" * (1 << 20)
t = threading.Thread(target=lambda: (cli.sendall(data), cli.shutdown(socket.SHUT_WR))); t.start()
got = 0
while True:
    b = conn.recv(65536)
    if not b: break
    got += len(b)
t.join()
print(cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\\0").decode(), got)
`;
function tcpWith(ns: NetNs, cc: string): { cc: string; bytes: number } {
  const [name, bytes] = ns.exec("python3", ["-c", TCP_CLIENT, cc]).trim().split(" ");
  return { cc: name as string, bytes: Number(bytes) };
}

interface StructOpsDump {
  bpf_map_info: { id: number; name: string; btf_vmlinux_value_type_id: number };
  bpf_struct_ops_tcp_congestion_ops: { data: Record<string, unknown> };
}
/** `bpftool struct_ops dump`: bpftool 7.1 writes the map's info and its value as two JSON objects joined by a comma. */
function dumpOf(mapId: number): StructOpsDump {
  const r = spawnSync(bpftool as string, ["-j", "struct_ops", "dump", "id", String(mapId)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bpftool struct_ops dump id ${mapId}: ${r.stderr.trim()}`);
  const parts = JSON.parse(`[${r.stdout.trim().replace(/^\[|\]$/g, "")}]`) as object[];
  return Object.assign({}, ...parts) as StructOpsDump;
}

describeKernel("struct_ops: a TCP congestion control in BPF", () => {
  const probe = probeStructOps();
  let ns: NetNs;
  beforeAll(() => {
    ns = NetNs.create();
    // Names of congestion controls are global: a .struct_ops registration an interrupted run
    // left (it outlives its process) is removed; then none of ours may be there.
    unregisterLeftover("tsebpf_cc");
    expect(available().filter((n) => n.startsWith("tsebpf_cc"))).toEqual([]);
  });
  afterAll(() => ns?.remove());

  it("the probe answers, naming the refused step and errno when it says no; tsebpf probe shows it", () => {
    expect(typeof probe.supported).toBe("boolean");
    const r = spawnSync(process.execPath, [CLI, "probe", "--json"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { struct_ops: Record<string, boolean>; reasons: { struct_ops: Record<string, string> } };
    expect(out.struct_ops.tcp_congestion_ops).toBe(probe.supported);
    if (!probe.supported) expect(out.reasons.struct_ops.tcp_congestion_ops).toBe(probe.reason);
    if (!probe.supported) expect(probe.reason).toMatch(/: E[A-Z]+$/);
    // What was measured on the development kernel (6.18): loads, maps and registration all work.
    if (probe.supported) expect(probe.reason).toBeUndefined();
  });

  it("loads the programs as STRUCT_OPS and creates the maps with the kernel's bpf_struct_ops_tcp_congestion_ops value", () => {
    if (probe.reason?.startsWith("loading") || probe.reason?.startsWith("creating")) {
      expect(() => Collection.load(spec())).toThrow();
      return;
    }
    const check = trackOwnObjects();
    {
      using c = Collection.load(spec());
      expect([...c.programs.keys()].sort()).toEqual(["tsebpf_cong_avoid", "tsebpf_init", "tsebpf_ssthresh", "tsebpf_undo_cwnd"]);
      for (const p of c.programs.values()) expect(p.info().type).toBe(ProgramType.STRUCT_OPS);
      const valueType = kernelBtf().find("bpf_struct_ops_tcp_congestion_ops", "struct");
      for (const name of ["tsebpf_cc", "tsebpf_cc_link"]) {
        const so = c.structOps(name);
        expect(so.typeName).toBe("tcp_congestion_ops");
        expect(so.link).toBe(name === "tsebpf_cc_link");
        expect(so.map.info().type).toBe(26 /* BPF_MAP_TYPE_STRUCT_OPS */);
        expect(so.registered).toBeUndefined();
        if (bpftool) expect(dumpOf(so.map.info().id).bpf_map_info.btf_vmlinux_value_type_id).toBe(valueType);
      }
      // Loaded but not registered: the kernel knows no congestion control of these names.
      expect(available()).not.toContain("tsebpf_cc");
    }
    return check();
  });

  it("registers the .struct_ops map: listed, used by a TCP connection (init runs), unregistered on close", () => {
    using c = Collection.load(spec());
    const so = c.structOps("tsebpf_cc");
    if (!probe.supported) {
      expect(() => so.register()).toThrow(NotSupportedError);
      expect(() => so.register()).toThrow(/tcp_congestion_ops "tsebpf_cc": registering .*this kernel refuses it \(E[A-Z]+\)/);
      expect(available()).not.toContain("tsebpf_cc");
      return;
    }
    const reg = so.register();
    try {
      expect(available()).toContain("tsebpf_cc");
      expect(so.registered).toBe(reg);
      const before = c.variable<bigint>("inits").get();
      const conn = tcpWith(ns, "tsebpf_cc");
      expect(conn).toEqual({ cc: "tsebpf_cc", bytes: 1 << 20 });
      expect(c.variable<bigint>("inits").get()).toBeGreaterThan(before);
      expect(() => so.register()).toThrow(StructOpsError);
    } finally {
      reg.close();
    }
    expect(available()).not.toContain("tsebpf_cc");
    expect(() => tcpWith(ns, "tsebpf_cc")).toThrow(/No such file|ENOENT|Errno 2/);
    // A .struct_ops map registers once.
    expect(() => so.register()).toThrow(/registers once/);
  });

  itWith(bpftoolMissing)("bpftool reads back the registered value: the name, the flags and the program at each member", () => {
    if (!probe.supported) return void expect(probe.reason).toBeDefined();
    const s = spec();
    using c = Collection.load(s);
    const so = c.structOps("tsebpf_cc");
    using _ = so.register();
    const dump = dumpOf(so.map.info().id);
    const data = dump.bpf_struct_ops_tcp_congestion_ops.data;
    expect(data.name).toBe("tsebpf_cc");
    expect(data.flags).toBe(1);
    const members = (s.maps.get("tsebpf_cc") as StructOpsMapSpec).structOps.members.filter((m) => m.program);
    for (const m of members) expect(String(data[m.name])).toMatch(new RegExp(`${m.program}/prog_id:${c.program(m.program as string).info().id}$`));
    expect(String(data.set_state)).toMatch(/ 0$/);
  });

  it("registers the .struct_ops.link map through a struct_ops link; closing the link unregisters", () => {
    using c = Collection.load(spec());
    const so = c.structOps("tsebpf_cc_link");
    if (!probe.supported) {
      expect(() => so.register()).toThrow(NotSupportedError);
      return;
    }
    const reg = so.register();
    try {
      expect(reg.link?.info().typeName).toBe("struct_ops");
      expect(available()).toContain("tsebpf_cc_link");
      expect(reg.mapId()).toBe(so.map.info().id);
      expect(tcpWith(ns, "tsebpf_cc_link")).toEqual({ cc: "tsebpf_cc_link", bytes: 1 << 20 });
    } finally {
      reg.close();
    }
    expect(available()).not.toContain("tsebpf_cc_link");
    // Unlike a .struct_ops map, a .struct_ops.link map registers again (a new link).
    using again = so.register();
    expect(available()).toContain("tsebpf_cc_link");
    again.close();
    expect(available()).not.toContain("tsebpf_cc_link");
  });

  it("a struct_ops link is updated to another .struct_ops.link map of the same struct (BPF_LINK_UPDATE)", () => {
    if (!probe.supported) return void expect(probe.reason).toBeDefined();
    using a = Collection.load(spec());
    using b = Collection.load(spec());
    const reg = a.structOps("tsebpf_cc_link").register();
    try {
      reg.update(b.structOps("tsebpf_cc_link"));
      expect(available()).toContain("tsebpf_cc_link");
      expect(reg.mapId()).toBe(b.structOps("tsebpf_cc_link").map.info().id);
      expect(() => reg.update(b.structOps("tsebpf_cc"))).toThrow(/not a .struct_ops.link map/);
    } finally {
      reg.close();
    }
    expect(available()).not.toContain("tsebpf_cc_link");
  });

  it("closing the collection unregisters what it registered", () => {
    if (!probe.supported) return void expect(probe.reason).toBeDefined();
    const c = Collection.load(spec());
    c.structOps("tsebpf_cc").register();
    c.structOps("tsebpf_cc_link").register();
    expect(available()).toEqual(expect.arrayContaining(["tsebpf_cc", "tsebpf_cc_link"]));
    c.close();
    expect(available().filter((n) => n.startsWith("tsebpf_cc"))).toEqual([]);
  });

  it("a member this kernel's struct lacks is a StructOpsError at load naming map and member; nothing is left", async () => {
    const s = spec();
    const m = s.maps.get("tsebpf_cc") as StructOpsMapSpec;
    const renamed: StructOpsMapSpec = { ...m, structOps: { ...m.structOps, members: m.structOps.members.map((x) => (x.name === "ssthresh" ? { ...x, name: "no_such_member" } : x)) } };
    const bad: CollectionSpec = { ...s, maps: new Map([...s.maps].map(([k, v]) => [k, k === "tsebpf_cc" ? renamed : v])) };
    const check = trackOwnObjects();
    expect(() => Collection.load(bad)).toThrow(StructOpsError);
    expect(() => Collection.load(bad)).toThrow(/map tsebpf_cc: member no_such_member of struct tcp_congestion_ops is not in this kernel's/);
    const unknown: CollectionSpec = { ...s, maps: new Map([...s.maps].map(([k, v]) => [k, k === "tsebpf_cc" ? { ...m, structOps: { ...m.structOps, typeName: "tsebpf_no_such_ops" } } : v])) };
    expect(() => Collection.load(unknown)).toThrow(NotSupportedError);
    expect(() => Collection.load(unknown)).toThrow(/this kernel's BTF has no struct tsebpf_no_such_ops/);
    await check();
  });

  itWith(bpftoolMissing)("libbpf (bpftool struct_ops register) fills the same members with the same programs as tsebpf's parse", () => {
    if (!probe.supported) return void expect(probe.reason).toBeDefined();
    const r = spawnSync(bpftool as string, ["struct_ops", "register", FIXTURE], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const id = /Registered tcp_congestion_ops tsebpf_cc id (\d+)/.exec(r.stdout + r.stderr)?.[1];
    expect(id).toBeDefined();
    try {
      const data = dumpOf(Number(id)).bpf_struct_ops_tcp_congestion_ops.data;
      const m = spec().maps.get("tsebpf_cc") as StructOpsMapSpec;
      const ours = Object.fromEntries(m.structOps.members.filter((x) => x.program).map((x) => [x.name, x.program]));
      const theirs = Object.fromEntries(Object.entries(data).filter(([, v]) => /\/prog_id:\d+$/.test(String(v))).map(([k, v]) => [k, /(\w+)\/prog_id/.exec(String(v))?.[1]]));
      expect(theirs).toEqual(ours);
    } finally {
      spawnSync(bpftool as string, ["struct_ops", "unregister", "id", String(id)]);
    }
    expect(available()).not.toContain("tsebpf_cc");
  });

  it("attachAll registers every struct_ops map (and attaches no struct_ops program alone); closing unregisters", () => {
    using c = Collection.load(spec());
    if (!probe.supported) {
      expect(() => c.attachAll()).toThrow(NotSupportedError);
      return;
    }
    const a = c.attachAll();
    expect(a.programs().sort()).toEqual(["tsebpf_cc", "tsebpf_cc_link"]);
    expect(a.skipped).toEqual([]);
    expect(available()).toEqual(expect.arrayContaining(["tsebpf_cc", "tsebpf_cc_link"]));
    expect(a.get("tsebpf_cc_link").pin).toBeTypeOf("function");
    expect(a.get("tsebpf_cc").pin).toBeUndefined();
    a.close();
    expect(available().filter((n) => n.startsWith("tsebpf_cc"))).toEqual([]);
  });

  it("a pinned struct_ops link keeps the struct registered after close, until the pin is removed", async () => {
    if (!probe.supported) return void expect(probe.reason).toBeDefined();
    const dir = mkdtempSync("/sys/fs/bpf/tsebpf-so-");
    try {
      {
        using c = Collection.load(spec());
        const reg = c.structOps("tsebpf_cc_link").register();
        reg.pin?.(join(dir, "link"));
      }
      expect(available()).toContain("tsebpf_cc_link");
      rmSync(join(dir, "link"));
      await eventually("tsebpf_cc_link unregistered once its pin is gone", () => !available().includes("tsebpf_cc_link"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tsebpf load --attach registers both maps until SIGINT; --attach --pin pins the link and leaves the .struct_ops registration", async () => {
    if (!probe.supported) return void expect(probe.reason).toBeDefined();
    const child = spawn(process.execPath, [CLI, "load", FIXTURE, "--attach"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d) => {
        out += d;
        if (/running:/.test(out)) resolve();
      });
      child.on("exit", (code) => reject(new Error(`tsebpf exited ${code}: ${out}`)));
    });
    expect(out).toMatch(/attached tsebpf_cc: struct_ops tcp_congestion_ops "tsebpf_cc"\n/);
    expect(out).toMatch(/attached tsebpf_cc_link: struct_ops tcp_congestion_ops "tsebpf_cc_link" \(link\)\n/);
    expect(available()).toEqual(expect.arrayContaining(["tsebpf_cc", "tsebpf_cc_link"]));
    const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(available().filter((n) => n.startsWith("tsebpf_cc"))).toEqual([]);
    const help = spawnSync(process.execPath, [CLI, "load", "--help"], { encoding: "utf8" }).stdout;
    expect(help).toMatch(/struct_ops maps are registered, e\.g\. a TCP congestion\s+control/);

    const dir = mkdtempSync("/sys/fs/bpf/tsebpf-so-");
    try {
      const r = spawnSync(process.execPath, [CLI, "load", FIXTURE, "--attach", "--pin", dir], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/tsebpf_cc has no link to pin: it stays attached until detached/);
      expect(existsSync(join(dir, "links", "tsebpf_cc_link"))).toBe(true);
      expect(available()).toEqual(expect.arrayContaining(["tsebpf_cc", "tsebpf_cc_link"]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      unregisterLeftover("tsebpf_cc");
    }
    await eventually("both unregistered", () => available().every((n) => !n.startsWith("tsebpf_cc")));
  });

  itWith(bpftoolMissing)("libbpf (bpftool prog loadall) finds the same struct_ops programs and loads the same instructions (tags agree)", () => {
    if (probe.reason?.startsWith("loading")) return void expect(probe.supported).toBe(false);
    const dir = mkdtempSync("/sys/fs/bpf/tsebpf-so-");
    try {
      const r = spawnSync(bpftool as string, ["prog", "loadall", FIXTURE, join(dir, "progs")], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      using c = Collection.load(spec());
      const theirs = Object.fromEntries(
        [...c.programs.keys()].map((name) => {
          const info = bpftoolJson<{ type: string; tag: string }>("prog", "show", "pinned", join(dir, "progs", name));
          return [name, [info.type, info.tag]];
        }),
      );
      const ours = Object.fromEntries([...c.programs].map(([name, p]) => [name, ["struct_ops", p.info().tag]]));
      expect(ours).toEqual(theirs);
      expect(Object.keys(ours).sort()).toEqual(["tsebpf_cong_avoid", "tsebpf_init", "tsebpf_ssthresh", "tsebpf_undo_cwnd"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(available()).not.toContain("tsebpf_cc");
  });
});
