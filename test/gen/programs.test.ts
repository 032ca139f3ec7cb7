/**
 * The programs' committed bindings are what `tsebpf gen` makes of their objects now (the same
 * command as `make gen`): a stale binding fails here. TSEBPF_WRITE_GEN=1 rewrites them.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { genSource } from "../../src/cli/commands/gen.js";

/** What `make gen` runs, program by program (paths from the repository's root). */
const BINDINGS = [
  {
    object: "src/programs/loadbalancer/loadbalancer.bpf.o",
    output: "src/programs/loadbalancer/loadbalancer.gen.ts",
    types: ["flow_event"],
    importFrom: "../../index.js",
    path: true,
  },
  {
    object: "src/programs/packetfilter/packetfilter.bpf.o",
    output: "src/programs/packetfilter/packetfilter.gen.ts",
    types: ["drop_event", "rule", "hit", "v4_host", "v6_host", "v4_prefix", "v6_prefix"],
    importFrom: "../../index.js",
    path: true,
  },
  // The fixtures test/kernel/gen-events.test.ts drives real events through.
  {
    object: "test/fixtures/bootstrap.bpfel.o",
    output: "test/gen/bindings/bootstrap.gen.ts",
    types: ["event"],
    importFrom: "../../../src/index.js",
    path: true,
  },
  {
    object: "test/fixtures/tcplife.bpfel.o",
    output: "test/gen/bindings/tcplife.gen.ts",
    types: ["event"],
    importFrom: "../../../src/index.js",
    path: true,
  },
  {
    object: "src/programs/comtrace/comtrace.bpf.o",
    output: "src/programs/comtrace/comtrace.gen.ts",
    types: ["conn_event", "enum owner_source", "enum close_reason", "enum conn_flags", "enum stat_index"],
    importFrom: "../../index.js",
    path: true,
  },
  {
    object: "src/programs/jittergen/jittergen.bpf.o",
    output: "src/programs/jittergen/jittergen.gen.ts",
    types: ["rule", "rule_set", "rule_counters", "jg_stats", "rule_state"],
    importFrom: "../../index.js",
    path: true,
  },
  {
    object: "src/programs/lsmbpf/lsmbpf.bpf.o",
    output: "src/programs/lsmbpf/lsmbpf.gen.ts",
    types: ["chroot_event", "enum guard_engine", "enum guard_action", "enum stat_index"],
    importFrom: "../../index.js",
    path: true,
  },
] as const;

describe("committed bindings", () => {
  for (const b of BINDINGS) {
    it(`${b.output} is what tsebpf gen makes of ${b.object} (make gen)`, () => {
      const fresh = genSource(b.object, { output: b.output, types: b.types, importFrom: b.importFrom, path: b.path });
      if (process.env.TSEBPF_WRITE_GEN === "1") writeFileSync(b.output, fresh);
      expect(readFileSync(b.output, "utf8"), `${b.output} is stale: run make gen`).toBe(fresh);
    });
  }
});
