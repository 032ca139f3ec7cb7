import { spawn } from "node:child_process";
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { buildInfo, escapeLabelValue, eventsLost, log2MicrosecondBuckets, writeExposition, writeFamily, type MetricFamily } from "../../src/programs/common/metrics.js";
import { MetricsServer, parseMetricsAddress } from "../../src/programs/common/metrics-server.js";
import { parseExposition, sampleValue } from "../helpers/exposition.js";
import { assertProperty } from "../helpers/property.js";

const get = (url: string, method = "GET"): Promise<{ status: number; type: string | undefined; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body }));
    });
    req.on("error", reject);
    req.end();
  });

describe("the exposition writer", () => {
  it("writes HELP, TYPE, counters, gauges and cumulative histograms that the strict parser reads back", () => {
    const text = writeExposition([
      { name: "t_packets_total", help: "Packets.\nBy verdict \\ family.", type: "counter", samples: [{ labels: { verdict: "drop" }, value: 3n }, { labels: { verdict: "pass" }, value: 5 }] },
      { name: "t_rules", help: "Rules.", type: "gauge", samples: [{ value: 0.5 }] },
      { name: "t_delay_seconds", help: "Delays.", type: "histogram", samples: [{ labels: { rule: 'a"b\\c\nd' }, buckets: [{ le: 0.001, count: 2 }, { le: 0.01, count: 0 }, { le: 0.1, count: 3n }], above: 1, sum: 0.25 }] },
      buildInfo("1.2.3"),
      eventsLost("x", 7n),
    ]);
    expect(text).toContain('# HELP t_packets_total Packets.\\nBy verdict \\\\ family.\n# TYPE t_packets_total counter\nt_packets_total{verdict="drop"} 3\n');
    expect(text).toContain('t_delay_seconds_bucket{rule="a\\"b\\\\c\\nd",le="0.01"} 2\n');
    const parsed = parseExposition(text);
    expect(parsed.get("t_packets_total")?.help).toBe("Packets.\nBy verdict \\ family.");
    expect(sampleValue(parsed, "t_packets_total", { verdict: "drop" })).toBe(3);
    expect(sampleValue(parsed, "t_rules")).toBe(0.5);
    const rule = { rule: 'a"b\\c\nd' };
    expect([0.001, 0.01, 0.1].map((le) => sampleValue(parsed, "t_delay_seconds_bucket", { ...rule, le: String(le) }))).toEqual([2, 2, 5]);
    expect(sampleValue(parsed, "t_delay_seconds_bucket", { ...rule, le: "+Inf" })).toBe(6);
    expect(sampleValue(parsed, "t_delay_seconds_count", rule)).toBe(6);
    expect(sampleValue(parsed, "t_delay_seconds_sum", rule)).toBe(0.25);
    expect(sampleValue(parsed, "tsebpf_build_info", { version: "1.2.3", node: process.versions.node })).toBe(1);
    expect(sampleValue(parsed, "tsebpf_events_lost_total", { program: "x" })).toBe(7);
  });

  it("writes counters beyond 2^53 exactly", () => {
    const text = writeFamily({ name: "t_total", help: "h", type: "counter", samples: [{ value: 2n ** 64n - 1n }] });
    expect(text).toContain("t_total 18446744073709551615\n");
  });

  it("refuses bad names, _total off counters, counters without it, series twice, names twice, bad buckets", () => {
    const f = (over: Partial<MetricFamily>): MetricFamily => ({ name: "t_total", help: "h", type: "counter", samples: [{ value: 1 }], ...over }) as MetricFamily;
    expect(() => writeFamily(f({ name: "9bad_total" }))).toThrow(/not a valid metric name/);
    expect(() => writeFamily(f({ name: "t_packets" }))).toThrow(/a counter's name ends in _total/);
    expect(() => writeFamily(f({ type: "gauge" }))).toThrow(/only counters end in _total/);
    expect(() => writeFamily(f({ samples: [{ labels: { "bad-name": "x" }, value: 1 }] }))).toThrow(/not a valid label name/);
    expect(() => writeFamily(f({ samples: [{ labels: { __x: "x" }, value: 1 }] }))).toThrow(/not a valid label name/);
    expect(() => writeFamily(f({ samples: [{ labels: { a: "1" }, value: 1 }, { labels: { a: "1" }, value: 2 }] }))).toThrow(/given twice/);
    expect(() => writeFamily(f({ samples: [{ value: -1 }] }))).toThrow(/cannot be -1/);
    expect(() => writeExposition([f({}), f({})])).toThrow(/used twice/);
    const h = (buckets: { le: number; count: number }[], labels?: Record<string, string>): MetricFamily => ({ name: "t_seconds", help: "h", type: "histogram", samples: [{ buckets, sum: 0, ...(labels ? { labels } : {}) }] });
    expect(() => writeFamily(h([{ le: 2, count: 1 }, { le: 1, count: 1 }]))).toThrow(/increasing/);
    expect(() => writeFamily(h([{ le: Infinity, count: 1 }]))).toThrow(/finite/);
    expect(() => writeFamily(h([], { le: "1" }))).toThrow(/'le' is the histogram's own label/);
    expect(() => writeExposition([h([]), { name: "t_seconds_count", help: "h", type: "gauge", samples: [] }])).toThrow(/used twice/);
  });

  it("log2 microsecond buckets: bound 2^(i+1) µs in seconds, the last bucket open (+Inf)", () => {
    const { buckets, above } = log2MicrosecondBuckets([1n, 2n, 3n, 4n]);
    expect(buckets).toEqual([
      { le: 2e-6, count: 1n },
      { le: 4e-6, count: 2n },
      { le: 8e-6, count: 3n },
    ]);
    expect(above).toBe(4n);
  });

  it("property: any families of valid names and label values round-trip through the strict parser", () => {
    const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/).filter((n) => !/_(total|bucket|sum|count)$/.test(n));
    const labelValue = fc.string({ maxLength: 8, unit: fc.constantFrom("a", "\\", '"', "\n", "é", " ", "}", ",", "=") });
    const counts = fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 6 });
    assertProperty(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 4 }), fc.uniqueArray(labelValue, { minLength: 1, maxLength: 4 }), counts, (names, values, hist) => {
        const families: MetricFamily[] = names.flatMap((n, i): MetricFamily[] => [
          { name: `${n}_total`, help: `help ${values[0] ?? ""}`, type: "counter", samples: values.map((v, j) => ({ labels: { l: v }, value: BigInt(i * 10 + j) })) },
          { name: `${n}_h`, help: "h", type: "histogram", samples: values.map((v) => ({ labels: { l: v }, ...log2MicrosecondBuckets(hist), sum: 1.5 })) },
        ]);
        const parsed = parseExposition(writeExposition(families));
        names.forEach((n, i) =>
          values.forEach((v, j) => {
            expect(sampleValue(parsed, `${n}_total`, { l: v })).toBe(i * 10 + j);
            expect(sampleValue(parsed, `${n}_h_count`, { l: v })).toBe(hist.reduce((a, b) => a + b, 0));
          }),
        );
        expect(parsed.get(`${names[0]}_total`)?.help).toBe(`help ${values[0] ?? ""}`);
      }),
    );
  });

  it("escapes only backslash, double quote and line feed in label values", () => {
    assertProperty(
      fc.property(fc.string(), (s) => {
        const escaped = escapeLabelValue(s);
        expect(escaped).not.toMatch(/\n|(^|[^\\])(\\\\)*"/);
        expect(escaped.replace(/\\([\s\S])/g, (_m, c: string) => (c === "n" ? "\n" : c))).toBe(s);
      }),
    );
  });
});

describe("the strict parser refuses", () => {
  const bad: [string, string, RegExp][] = [
    ["a sample without TYPE", "x 1\n", /without its family's TYPE/],
    ["a bad metric name", "# TYPE 1x gauge\n", /bad metric name/],
    ["_total on a gauge", "# TYPE x_total gauge\nx_total 1\n", /_total on a non-counter/],
    ["a counter without _total", "# TYPE x counter\nx 1\n", /not named _total/],
    ["a series twice", "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n", /series given twice/],
    ["a label twice", "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n", /label a twice/],
    ["a bad escape", "# TYPE x gauge\nx{a=\"\\t\"} 1\n", /bad escape/],
    ["non-cumulative buckets", "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"2\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 3\n", /not cumulative/],
    ["a missing +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_sum 1\nh_count 3\n", /no le="\+Inf"/],
    ["+Inf != count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 4\n", /!= _count/],
    ["a family split", "# TYPE x gauge\nx{a=\"1\"} 1\n# TYPE y gauge\ny 1\nx{a=\"2\"} 1\n", /not together/],
    ["TYPE twice", "# TYPE x gauge\n# TYPE x gauge\n", /TYPE twice/],
    ["a negative counter", "# TYPE x_total counter\nx_total -1\n", /below 0/],
    ["a bad value", "# TYPE x gauge\nx one\n", /bad value/],
    ["no final line feed", "# TYPE x gauge\nx 1", /line feed/],
    ["two spaces", "# TYPE x gauge\nx  1\n", /expected one space/],
  ];
  for (const [what, text, why] of bad) it(what, () => expect(() => parseExposition(text)).toThrow(why));
});

describe("--metrics ADDR:PORT", () => {
  it("parses IPv4, bracketed IPv6, host names and port 0", () => {
    expect(parseMetricsAddress("127.0.0.1:9100")).toEqual({ host: "127.0.0.1", port: 9100 });
    expect(parseMetricsAddress("[::1]:9100")).toEqual({ host: "::1", port: 9100 });
    expect(parseMetricsAddress("0.0.0.0:0")).toEqual({ host: "0.0.0.0", port: 0 });
    expect(parseMetricsAddress("localhost:65535")).toEqual({ host: "localhost", port: 65535 });
  });

  it("refuses anything else in one line naming the option and the value", () => {
    for (const [text, why] of [
      ["9100", /'9100': no port/],
      ["::1:9100", /an IPv6 address goes in brackets/],
      ["[127.0.0.1]:9100", /not an IPv6 address/],
      ["127.0.0.1:65536", /above 65535/],
      ["127.0.0.1:", /no port/],
      [":9100", /no address/],
      ["a b:1", /not an address or host name/],
      ["127.0.0.1:-1", /--metrics: expected ADDR:PORT/],
    ] as const) {
      expect(() => parseMetricsAddress(text)).toThrow(why);
      expect(() => parseMetricsAddress(text)).toThrow(/^--metrics: expected ADDR:PORT .*[^\n]$/);
    }
  });

  it("serves GET /metrics with the exposition's content type, 404 elsewhere, 405 for other methods, 500 naming a failed read", async () => {
    let fail = false;
    const server = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, () => {
      if (fail) throw new Error("map \"verdicts\": EBADF");
      return [{ name: "t_total", help: "h", type: "counter", samples: [{ value: 1 }] }];
    });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
      const ok = await get(server.url);
      expect(ok).toEqual({ status: 200, type: "text/plain; version=0.0.4; charset=utf-8", body: "# HELP t_total h\n# TYPE t_total counter\nt_total 1\n" });
      expect((await get(server.url.replace("/metrics", "/"))).status).toBe(404);
      expect((await get(server.url.replace("/metrics", "/metricsx"))).status).toBe(404);
      expect((await get(server.url, "POST")).status).toBe(405);
      fail = true;
      expect(await get(server.url)).toMatchObject({ status: 500, body: 'map "verdicts": EBADF\n' });
    } finally {
      await server.close();
    }
    await expect(get(server.url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("writes a large exposition in pieces that parse as one", async () => {
    const samples = Array.from({ length: 50_000 }, (_, i) => ({ labels: { rule: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }, value: i }));
    const server = await MetricsServer.listen({ host: "::1", port: 0 }, () => [{ name: "t_hits_total", help: "h", type: "counter", samples }]);
    // Waiting for 'drain' many times over must not pile up listeners on the response.
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      expect(server.url).toMatch(/^http:\/\/\[::1\]:\d+\/metrics$/);
      const parsed = parseExposition((await get(server.url)).body);
      expect(parsed.get("t_hits_total")?.samples.length).toBe(50_000);
      expect(sampleValue(parsed, "t_hits_total", { rule: "10.0.195.79" })).toBe(195 * 256 + 79);
      await new Promise((r) => setImmediate(r));
      expect(warnings).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      await server.close();
    }
  });

  it("ends the event loop's turn as it writes a large exposition (it does not hold the loop until the response is out)", async () => {
    // A chain of immediates (each arming the next) runs once per turn of the event loop, however
    // fast or slow the machine: the turns are counted up to the last series.
    let turns = 0;
    let stop = false;
    const chain = () => {
      turns++;
      if (!stop) setImmediate(chain);
    };
    let turnsBeforeTheEnd = 0;
    const server = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, () => {
      setImmediate(chain);
      const samples = function* () {
        for (let i = 0; i < 100_000; i++) yield { labels: { rule: `rule-${i}` }, value: i };
        turnsBeforeTheEnd = turns;
      };
      return [{ name: "t_total", help: "h", type: "counter", samples: { [Symbol.iterator]: samples } }];
    });
    try {
      // Scraped from another process, as Prometheus does (a client in this process would give the loop turns of its own).
      const body = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ["-e", `require("node:http").get(process.argv[1], { agent: false }, (r) => r.pipe(process.stdout))`, server.url], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
        child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`scraper exited ${code}`))));
      });
      expect(body.length).toBeGreaterThan(2_500_000);
      expect(parseExposition(body).get("t_total")?.samples.length).toBe(100_000);
      // ~2.6 MB in turns of 16 KiB: some 160 turns; a writer holding the loop would give one or two.
      expect(turnsBeforeTheEnd).toBeGreaterThan(50);
    } finally {
      stop = true;
      await server.close();
    }
  });

  it("an address in use is one line naming it", async () => {
    const first = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, () => []);
    try {
      await expect(MetricsServer.listen({ host: "127.0.0.1", port: first.port }, () => [])).rejects.toThrow(new RegExp(`^--metrics 127\\.0\\.0\\.1:${first.port}: address in use \\(EADDRINUSE\\)$`));
      await expect(MetricsServer.listen({ host: "192.0.2.1", port: 0 }, () => [])).rejects.toThrow(/^--metrics 192\.0\.2\.1:0: no such address on this machine/);
    } finally {
      await first.close();
    }
  });
});
