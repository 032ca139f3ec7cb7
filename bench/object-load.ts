/**
 * #2 object load, user-space share: open + relocate + load a CO-RE object with 5 programs,
 * minus the time spent inside bpf(2), against libbpf's bpf_object__open + load.
 *
 * Cold (the figure): each round starts a fresh process on both sides — tsebpf in
 * bench/object-load-child.ts, libbpf in bench/peers/object_load.c — one load each, the sides'
 * rounds interleaved; the ratio is the median of per-round ratios. Warm (2w, reference): rounds
 * in one process on both sides (libbpf's peer runs three and reports its last), the kernel's BTF
 * read and indexed again for every load on both (libbpf does not keep it between objects).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readCollectionSpec } from "../src/elf/index.js";
import { Collection } from "../src/runtime/collection.js";
import { clearKernelBtfCache } from "../src/runtime/kernel-btf.js";
import { useKernel } from "../src/syscall/index.js";
import { buildPeer, interleaved, median, ms, peerLines, roundRatio, workdir, type Figure } from "./lib.js";
import { timedKernel } from "./timed-kernel.js";

const ROUNDS = 15;
const PEER_WARM_ROUNDS = 3;
const CHILD = join(dirname(fileURLToPath(import.meta.url)), "object-load-child.js");

/** User-space ns of one line "<total ns> <kernel ns>". */
const userSpace = (line: readonly number[] | undefined): number => {
  const [total = NaN, inKernel = NaN] = line ?? [];
  return total - inKernel;
};

export function objectLoad(): Figure[] {
  const obj = join(workdir, "core5.bpf.o");
  const cc = spawnSync("clang-19", ["-target", "bpf", "-O2", "-g", "-mcpu=v3", `-I/usr/include/${process.arch === "x64" ? "x86_64" : "aarch64"}-linux-gnu`, "-c", "bench/objects/core5.bpf.c", "-o", obj], { encoding: "utf8" });
  if (cc.status !== 0) return [{ id: "2", figure: "object load, user-space share", tsebpf: "n/a", peer: "n/a", ratio: undefined, target: "<= 1.2x", pass: undefined, note: `clang-19: ${cc.stderr.split("\n")[0]}` }];
  const peer = buildPeer("object_load.c", ["-lbpf", "-ldl"]);
  const oursCold = () => userSpace(peerLines(process.execPath, [CHILD, obj])[0]);
  const coldLabel = "CO-RE object (5 progs) load, user-space, cold (a fresh process per round, both sides)";
  if (!peer.path) {
    const ours = Array.from({ length: ROUNDS }, oursCold);
    return [{ id: "2", figure: coldLabel, tsebpf: ms(median(ours)), peer: "n/a", ratio: undefined, target: "<= 1.2x", pass: undefined, note: peer.reason ?? "" }];
  }
  const path = peer.path;
  const [oursC = [], theirsC = []] = interleaved(ROUNDS, [oursCold, () => userSpace(peerLines(path, [obj, "1"])[0])]);
  const cold = roundRatio(oursC, theirsC);

  const bytes = readFileSync(obj);
  const timing = timedKernel();
  const restore = useKernel(timing.k);
  let oursW: number[] = [];
  let theirsW: number[] = [];
  try {
    Collection.load(readCollectionSpec(bytes)).close(); // warm-up
    [oursW = [], theirsW = []] = interleaved(ROUNDS, [
      () => {
        clearKernelBtfCache();
        timing.reset();
        const t0 = process.hrtime.bigint();
        const c = Collection.load(readCollectionSpec(bytes));
        const total = Number(process.hrtime.bigint() - t0);
        c.close();
        return total - timing.spent();
      },
      () => userSpace(peerLines(path, [obj, String(PEER_WARM_ROUNDS)])[PEER_WARM_ROUNDS - 1]),
    ]);
  } finally {
    restore();
  }
  const warm = roundRatio(oursW, theirsW);
  return [
    { id: "2", figure: coldLabel, tsebpf: ms(median(oursC)), peer: `${ms(median(theirsC))} (libbpf)`, ratio: cold, target: "<= 1.2x", pass: cold <= 1.2 },
    { id: "2w", figure: "the same, warm: rounds in one process (kernel BTF re-read per load, both)", tsebpf: ms(median(oursW)), peer: `${ms(median(theirsW))} (libbpf)`, ratio: warm, target: "(reference)", pass: undefined },
  ];
}
