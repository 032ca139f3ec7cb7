/**
 * #2's tsebpf side, cold: run as a fresh process per round (as the C peer is), it opens, relocates
 * and loads the object once and prints "<total ns> <ns inside bpf(2)>", the peer's line format.
 * The clock starts after the modules are imported (the peer's starts after libbpf is linked).
 * Usage: node object-load-child.js OBJECT
 */
import { readFileSync } from "node:fs";
import { readCollectionSpec } from "../src/elf/index.js";
import { Collection } from "../src/runtime/collection.js";
import { useKernel } from "../src/syscall/index.js";
import { timedKernel } from "./timed-kernel.js";

const object = process.argv[2];
if (!object) throw new Error("usage: object-load-child OBJECT");
const timing = timedKernel();
const restore = useKernel(timing.k);
try {
  const t0 = process.hrtime.bigint();
  const c = Collection.load(readCollectionSpec(readFileSync(object)));
  const total = Number(process.hrtime.bigint() - t0);
  c.close();
  console.log(`${total} ${timing.spent()}`);
} finally {
  restore();
}
