/**
 * Loading under a profiler: V8's sampling profiler sends this thread a signal every interval, and
 * the verifier gives up (EAGAIN) whenever a signal is pending. Program loads block signals for
 * the call (syscall/kernel.ts: withSignalsBlocked), so a large program loads anyway.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect, it } from "vitest";
import { describeKernel } from "../helpers/kernel.js";

describeKernel("program loads under a profiler", () => {
  it("loads the packetfilter five times with a profiler sampling every 100 µs", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-prof-"));
    try {
      const module = resolve("dist/programs/packetfilter/index.js");
      const script = `
        const { PacketFilter, parseConfig } = await import(${JSON.stringify(module)});
        for (let i = 0; i < 5; i++) {
          const f = PacketFilter.load(parseConfig("rules:\\n  interface: x\\n  ipv4: { block: [10.0.0.0/8, 10.1.2.3] }\\n"));
          f.close();
        }
        console.log("loaded 5 times");`;
      const r = spawnSync(process.execPath, ["--cpu-prof", "--cpu-prof-interval", "100", "--cpu-prof-dir", dir, "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("loaded 5 times\n");
      expect(r.status).toBe(0);
      // The profiler really ran.
      expect(readdirSync(dir).some((f) => f.endsWith(".cpuprofile"))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
