/** `tsebpf load --attach` as a user runs it: a real process, SIGINT, nothing left behind. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { runtime } from "../../src/index.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { packageRoot } from "../helpers/dist.js";
import { isCI } from "../helpers/oracle.js";
import { describeKernel, udpReaches, useTopology } from "../helpers/kernel.js";

/** The built CLI: the repository's dist/ when fresh, else a build of its own (never a skip). */
const CLI = join(packageRoot(), "dist", "cli", "main.js");

/** Starts the CLI, resolves with its output once `until` appears in it. */
function start(args: string[], until: RegExp) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (until.test(out)) resolve(out);
    });
    child.on("exit", (code) => reject(new Error(`tsebpf exited ${code}: ${err}${out}`)));
  });
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  return { child, ready, exited, output: () => out };
}

/** The ids of the bpf links and programs a process holds fds of (from /proc/PID/fdinfo). */
function heldIds(pid: number): { links: number[]; programs: number[] } {
  const links: number[] = [];
  const programs: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue; // closed meanwhile
    }
    const link = /^link_id:\s*(\d+)/m.exec(info);
    const prog = /^prog_id:\s*(\d+)/m.exec(info);
    if (link) links.push(Number(link[1]));
    else if (prog) programs.push(Number(prog[1]));
  }
  return { links, programs };
}

/**
 * Ids bpftool lists (`link show` or `prog show`), with pinned paths (-f); undefined without
 * bpftool outside CI (under CI a missing bpftool fails the test: it is an oracle CI must have).
 */
function bpftoolIds(kind: "link" | "prog"): { ids: number[]; pinned: string[] } | undefined {
  if (!bpftool) {
    if (isCI) throw new Error(`oracle missing under CI: ${bpftoolMissing}`);
    return undefined;
  }
  const r = spawnSync(bpftool, ["-j", "-f", kind, "show"], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`bpftool -j -f ${kind} show: ${r.error?.message ?? r.stderr.trim()}`);
  const rows = JSON.parse(r.stdout || "[]") as { id: number; pinned?: string[] }[];
  return { ids: rows.map((x) => x.id), pinned: rows.flatMap((x) => x.pinned ?? []) };
}

/** Waits until `check` passes (a closed fd's object is freed after the process has exited). */
async function eventually(check: () => void, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Checks that none of these links and programs exists any more — in the runtime's lists and in
 * bpftool's (where installed). A pin holds its object, so this also shows that none is pinned.
 */
async function allGone(links: number[], programs: number[]): Promise<void> {
  await eventually(() => {
    expect(runtime.listLinks().filter((l) => links.includes(l.id) || programs.includes(l.programId))).toEqual([]);
    expect(runtime.listPrograms().filter((p) => programs.includes(p.id))).toEqual([]);
    const tool = { links: bpftoolIds("link"), programs: bpftoolIds("prog") };
    if (tool.links) expect(tool.links.ids.filter((id) => links.includes(id))).toEqual([]);
    if (tool.programs) expect(tool.programs.ids.filter((id) => programs.includes(id))).toEqual([]);
  });
}

describeKernel("tsebpf load --attach", () => {
  const topology = useTopology();

  it("attaches by section, keeps running, detaches on SIGINT", async () => {
    const { a, b } = topology();
    // The interface lives in b's namespace: run the CLI there (nsenter keeps bpffs visible).
    const inNs = spawn("nsenter", [`--net=${b.ns.path}`, "--", process.execPath, CLI, "load", "test/fixtures/attach.bpfel.o", "--attach", "-p", "xdp_drop", "on_tracepoint", "--ifname", b.ifname, "--xdp-mode", "generic"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      inNs.stdout.on("data", (d) => {
        out += d;
        if (/running/.test(out)) resolve();
      });
      inNs.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    expect(out).toMatch(/attached xdp_drop: XDP program "xdp_drop"/);
    expect(out).toMatch(/attached on_tracepoint: program "on_tracepoint" on tracepoint sock\/inet_sock_set_state/);
    expect(runtime.listLinks().map((l) => l.typeName)).toEqual(expect.arrayContaining(["xdp", "perf_event"]));
    // The links this run made: the ones its process holds, found by program name.
    const held = heldIds(inNs.pid as number);
    const names = new Map(runtime.listPrograms().map((p) => [p.id, p.name]));
    const made = runtime.listLinks().filter((l) => held.links.includes(l.id));
    expect(made.map((l) => `${l.typeName} ${names.get(l.programId)}`).sort()).toEqual(["perf_event on_tracepoint", "xdp xdp_drop"]);
    const programs = [...new Set([...held.programs, ...made.map((l) => l.programId)])];
    const tool = bpftoolIds("link");
    if (tool) expect(tool.ids).toEqual(expect.arrayContaining(held.links));
    expect(b.ns.exec("ip", ["-d", "link", "show", b.ifname])).toMatch(/xdpgeneric/);
    expect(udpReaches(a.ns, b.ns, b.ipv4, 42001, 800)).toBe(false);
    const exited = new Promise<number>((resolve) => inNs.on("exit", (code) => resolve(code ?? -1)));
    inNs.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(out).toMatch(/detached\n$/);
    expect(udpReaches(a.ns, b.ns, b.ipv4, 42002)).toBe(true);
    expect(b.ns.exec("ip", ["-d", "link", "show", b.ifname])).not.toMatch(/prog\/xdp/);
    // Its perf_event and xdp links and its programs are gone (so none is pinned either).
    await allGone(made.map((l) => l.id), programs);
  });

  it("prints ring buffer records as they arrive, decoded by --event-type as JSON lines (exec and exit of a child this test starts)", async () => {
    const r = start(["load", "test/fixtures/bootstrap.bpfel.o", "--attach", "--set", `target_ppid=${process.pid}`, "--event-type", "struct event", "--json"], /running/);
    await r.ready;
    const child = spawnSync("/bin/sh", ["-c", "exit 3"]);
    expect(child.status).toBe(3);
    type Line = { map: string; value: { pid: number; ppid: number; exit_code: number; comm: string; filename: string; exit_event: boolean; duration_ns: string } };
    const lines = (): Line[] => r.output().split("\n").filter((l) => l.startsWith('{"map"')).map((l) => JSON.parse(l) as Line);
    for (let i = 0; i < 200 && lines().filter((l) => l.value.pid === child.pid).length < 2; i++) await new Promise((res) => setTimeout(res, 25));
    const mine = lines().filter((l) => l.value.pid === child.pid);
    expect(mine.map((l) => l.value.exit_event)).toEqual([false, true]);
    const [exec, exit] = mine as [Line, Line];
    expect(exec).toMatchObject({ map: "rb", value: { ppid: process.pid, comm: "sh", exit_code: 0 } });
    expect(exec.value.filename).toMatch(/\/sh$/);
    expect(exit.value).toMatchObject({ ppid: process.pid, exit_code: 3, filename: "" });
    expect(BigInt(exit.value.duration_ns)).toBeGreaterThan(0n);
    r.child.kill("SIGINT");
    expect(await r.exited).toBe(0);
    expect(r.output()).toMatch(/detached\n$/);
  });

  it("an --event-type the object's BTF lacks: one line saying how to keep it, nothing left attached", async () => {
    const r = spawnSync(process.execPath, [CLI, "load", "test/fixtures/bootstrap.bpfel.o", "--attach", "--event-type", "struct no_such_event"], { encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^tsebpf: --event-type struct no_such_event: no type "struct no_such_event" in the BTF: .*keep it with an unused typed variable or pointer/);
    expect(r.stdout).not.toMatch(/attached/); // checked before anything was attached
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("with --pin the links outlive the process until the pin is removed", async () => {
    const pin = `/sys/fs/bpf/tsebpf-attach-${process.pid}`;
    try {
      const r = start(["load", "test/fixtures/attach.bpfel.o", "--attach", "-p", "on_raw_tp", "--pin", pin], /pinned under/);
      await r.ready;
      expect(await r.exited).toBe(0);
      expect(existsSync(`${pin}/links/on_raw_tp`)).toBe(true);
      const link = runtime.Link.fromPin(`${pin}/links/on_raw_tp`);
      const info = link.info();
      link.close();
      expect(info.typeName).toBe("raw_tracepoint");
      expect(runtime.listPrograms().find((p) => p.id === info.programId)?.name).toBe("on_raw_tp");
      // Still attached with the process gone: the pin holds it.
      expect(runtime.listLinks().map((l) => l.id)).toContain(info.id);
      const tool = bpftoolIds("link");
      if (tool) expect(tool.pinned).toContain(`${pin}/links/on_raw_tp`);
      rmSync(pin, { recursive: true });
      expect(existsSync(pin)).toBe(false);
      // The pin removed: the raw_tp link and its program are gone, and bpftool lists no pin under it.
      await allGone([info.id], [info.programId]);
      for (const kind of ["link", "prog"] as const) {
        const t = bpftoolIds(kind);
        if (t) expect(t.pinned.filter((p) => p.startsWith(pin))).toEqual([]);
      }
    } finally {
      rmSync(pin, { recursive: true, force: true });
    }
  });
});
