import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { DURATION_BOUNDS } from "../../src/programs/comtrace/metrics.js";
import { describeKernel } from "../helpers/kernel.js";
import { sampleValue } from "../helpers/exposition.js";
import { ProgramRun, scrape, seriesOf } from "../helpers/metrics-run.js";

/** One connection to the port: sends `send` bytes, reads `reply` bytes back, holds it `holdMs`, closes. */
function connection(port: number, send: number, reply: number, holdMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: "127.0.0.1", port }, () => s.write(Buffer.alloc(send, 1)));
    let got = 0;
    s.on("data", (d: Buffer) => {
      got += d.length;
      if (got === reply) setTimeout(() => s.end(), holdMs);
    });
    s.on("close", () => resolve());
    s.on("error", reject);
  });
}

describeKernel("tsebpf comtrace --metrics", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-ctm-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves the connections reported, their lifetimes as a histogram and their bytes, exactly as the trace reported them", async () => {
    // A server whose port only this test uses: the in-kernel --rport filter keeps only our clients' side.
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      let got = 0;
      s.on("data", (d: Buffer) => {
        got += d.length;
        if (got === 1000) s.write(Buffer.alloc(500, 2));
      });
      s.on("end", () => s.end());
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const run = new ProgramRun(["comtrace", "-d", "0", "-o", join(dir, "report.log"), "--json", "--rport", String(port), "--metrics", "127.0.0.1:0"]);
      const url = await run.metricsUrl();
      await run.waitFor(/Tracing TCP connections/);
      const empty = await scrape(url);
      expect(sampleValue(empty, "tsebpf_comtrace_connections_total", { outcome: "reported" })).toBe(0);
      expect(sampleValue(empty, "tsebpf_comtrace_connection_duration_seconds_count")).toBe(0);

      await Promise.all([connection(port, 1000, 500, 0), connection(port, 1000, 500, 0), connection(port, 1000, 500, 0), connection(port, 1000, 500, 600), connection(port, 1000, 500, 600)]);
      const ours = async () => {
        await run.waitFor(/("rport":\d+[^\n]*\n[^]*){5}/);
        return run.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { rport: number; ms: number; tx_bytes: number; rx_bytes: number });
      };
      const lines = await ours();
      expect(lines.length).toBe(5);
      expect(lines.every((l) => l.rport === port)).toBe(true);

      const m = await scrape(url);
      const connections = seriesOf(m, "tsebpf_comtrace_connections_total");
      expect(connections["outcome=reported"]).toBe(5);
      expect(connections["outcome=lost"]).toBe(0);
      // The server's side of each (and whatever else the machine did meanwhile) is filtered out.
      expect(connections["outcome=filtered"]).toBeGreaterThanOrEqual(5);
      expect(seriesOf(m, "tsebpf_events_lost_total")).toEqual({ "program=comtrace": 0 });
      // The histogram: each bucket counts the reported lifetimes at or below its bound.
      const seconds = lines.map((l) => l.ms / 1000);
      for (const le of DURATION_BOUNDS) {
        expect(sampleValue(m, "tsebpf_comtrace_connection_duration_seconds_bucket", { le: String(le) }), `le=${le}`).toBe(seconds.filter((s) => s <= le).length);
      }
      expect(sampleValue(m, "tsebpf_comtrace_connection_duration_seconds_bucket", { le: "+Inf" })).toBe(5);
      expect(sampleValue(m, "tsebpf_comtrace_connection_duration_seconds_count")).toBe(5);
      expect(sampleValue(m, "tsebpf_comtrace_connection_duration_seconds_sum")).toBeCloseTo(seconds.reduce((a, b) => a + b, 0), 5);
      // The two held ones lived at least 600 ms.
      expect(seconds.filter((s) => s >= 0.6).length).toBeGreaterThanOrEqual(2);
      expect(sampleValue(m, "tsebpf_comtrace_connection_duration_seconds_bucket", { le: "0.5" })).toBeLessThanOrEqual(3);
      expect(seriesOf(m, "tsebpf_comtrace_bytes_total")).toEqual({ "direction=sent": 5000, "direction=received": 2500 });
      expect(Object.values(seriesOf(m, "tsebpf_build_info"))).toEqual([1]);

      expect(await run.stop()).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
