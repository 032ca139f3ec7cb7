/** `tsebpf load --attach` as a user runs it: a real process, SIGINT, nothing left behind. */
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { expect, it } from "vitest";
import { runtime } from "../../src/index.js";
import { describeKernel, udpReaches, useTopology } from "../helpers/kernel.js";

const CLI = "dist/cli/main.js";

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

describeKernel("tsebpf load --attach", () => {
  const topology = useTopology();

  it.skipIf(!existsSync(CLI) && process.env.CI !== "true")(`attaches by section, keeps running, detaches on SIGINT${existsSync(CLI) ? "" : " (skipped: run make build)"}`, async () => {
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
    expect(b.ns.exec("ip", ["-d", "link", "show", b.ifname])).toMatch(/xdpgeneric/);
    expect(udpReaches(a.ns, b.ns, b.ipv4, 42001, 800)).toBe(false);
    const exited = new Promise<number>((resolve) => inNs.on("exit", (code) => resolve(code ?? -1)));
    inNs.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(out).toMatch(/detached\n$/);
    expect(udpReaches(a.ns, b.ns, b.ipv4, 42002)).toBe(true);
    expect(b.ns.exec("ip", ["-d", "link", "show", b.ifname])).not.toMatch(/prog\/xdp/);
  });

  it.skipIf(!existsSync(CLI) && process.env.CI !== "true")("with --pin the links outlive the process until the pin is removed", async () => {
    const pin = `/sys/fs/bpf/tsebpf-attach-${process.pid}`;
    try {
      const r = start(["load", "test/fixtures/attach.bpfel.o", "--attach", "-p", "on_raw_tp", "--pin", pin], /pinned under/);
      await r.ready;
      expect(await r.exited).toBe(0);
      expect(existsSync(`${pin}/links/on_raw_tp`)).toBe(true);
      const link = runtime.Link.fromPin(`${pin}/links/on_raw_tp`);
      expect(link.info().typeName).toBe("raw_tracepoint");
      link.close();
    } finally {
      rmSync(pin, { recursive: true, force: true });
    }
  });
});
