/**
 * #2 object load, user-space share: open + relocate + load a CO-RE object with 5 programs,
 * minus the time spent inside bpf(2), against libbpf's bpf_object__open + load (same run,
 * interleaved rounds, median of per-round ratios).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readCollectionSpec } from "../src/elf/index.js";
import { Collection } from "../src/runtime/collection.js";
import { clearKernelBtfCache } from "../src/runtime/kernel-btf.js";
import { kernel, useKernel, type Kernel } from "../src/syscall/index.js";
import { buildPeer, median, ms, workdir, type Figure } from "./lib.js";

/** The real kernel, with the time spent in bpf(2) added up. */
function timedKernel(): { k: Kernel; spent: () => number; reset: () => void } {
  const real = kernel();
  let spent = 0;
  const k: Kernel = {
    ...real,
    bpf(cmd, attr, size) {
      const t0 = process.hrtime.bigint();
      const r = real.bpf(cmd, attr, size);
      spent += Number(process.hrtime.bigint() - t0);
      return r;
    },
  };
  return { k, spent: () => spent, reset: () => void (spent = 0) };
}

export function objectLoad(): Figure[] {
  const obj = join(workdir, "core5.bpf.o");
  const cc = spawnSync("clang-19", ["-target", "bpf", "-O2", "-g", "-mcpu=v3", `-I/usr/include/${process.arch === "x64" ? "x86_64" : "aarch64"}-linux-gnu`, "-c", "bench/objects/core5.bpf.c", "-o", obj], { encoding: "utf8" });
  if (cc.status !== 0) return [{ id: "2", figure: "object load, user-space share", tsebpf: "n/a", peer: "n/a", ratio: undefined, target: "<= 1.2x", pass: undefined, note: `clang-19: ${cc.stderr.split("\n")[0]}` }];
  const peer = buildPeer("object_load.c", ["-lbpf", "-ldl"]);
  const bytes = readFileSync(obj);
  const timing = timedKernel();
  const ours: number[] = [];
  const theirs: number[] = [];
  const restore = useKernel(timing.k);
  try {
    Collection.load(readCollectionSpec(bytes)).close(); // warm up (kernel BTF read once per process, like libbpf's cache)
    for (let r = 0; r < 15; r++) {
      if (peer.path) {
        const out = spawnSync(peer.path, [obj, "1"], { encoding: "utf8" });
        const [total, inKernel] = out.stdout.trim().split(" ").map(Number);
        if (out.status === 0 && total !== undefined && inKernel !== undefined) theirs.push(total - inKernel);
      }
      // Cold, like libbpf in a fresh process: the kernel's BTF is read and indexed again.
      clearKernelBtfCache();
      timing.reset();
      const t0 = process.hrtime.bigint();
      const c = Collection.load(readCollectionSpec(bytes));
      const total = Number(process.hrtime.bigint() - t0);
      c.close();
      ours.push(total - timing.spent());
    }
  } finally {
    restore();
  }
  const ratio = theirs.length === ours.length ? median(ours.map((x, i) => x / (theirs[i] as number))) : undefined;
  return [{
    id: "2",
    figure: "CO-RE object (5 progs) load, user-space, cold",
    tsebpf: ms(median(ours)),
    peer: theirs.length ? `${ms(median(theirs))} (libbpf)` : "n/a",
    ratio,
    target: "<= 1.2x",
    pass: ratio === undefined ? undefined : ratio <= 1.2,
    ...(peer.reason ? { note: peer.reason } : {}),
  }];
}
