import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseYaml } from "../../src/programs/common/config.js";
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_TABLE_SIZE, loadConfig, parseConfig } from "../../src/programs/loadbalancer/config.js";
import { registerLoadbalancer } from "../../src/programs/loadbalancer/cli.js";
import { LoadBalancer } from "../../src/programs/loadbalancer/index.js";
import { tsebpf } from "../cli/run.js";

const base = `
listenInterface: eth1
vip: 10.0.0.100
tcp_port: 80
backends:
  - 02:00:00:00:00:0b
  - 02:00:00:00:00:0c
`;

const macOf = (i: number): string => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
const parse = (yaml: string) => parseConfig(parseYaml(yaml, "lb.yml"), "lb.yml");
/** The base config with `key` replaced (or removed, for undefined). */
function variant(changes: Record<string, unknown>): string {
  const doc = parseYaml(base, "lb.yml") as Record<string, unknown>;
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete doc[k];
    else doc[k] = v;
  }
  return JSON.stringify(doc); // JSON is YAML
}
const rejection = (changes: Record<string, unknown>): string => {
  try {
    parse(variant(changes));
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("accepted");
};

describe("loadbalancer config", () => {
  it("accepts the original keys plus vip, with defaults", () => {
    const c = parse(base);
    expect(c.listenInterface).toBe("eth1");
    expect(c.port).toBe(80);
    expect(c.protocol).toBe("tcp");
    expect([...(c.vip4 ?? [])]).toEqual([10, 0, 0, 100]);
    expect(c.vip6).toBeUndefined();
    expect(c.backends.map((b) => b.name)).toEqual(["02:00:00:00:00:0b", "02:00:00:00:00:0c"]);
    expect([...(c.backends[1]?.mac ?? [])]).toEqual([2, 0, 0, 0, 0, 0x0c]);
    expect(c.tableSize).toBe(DEFAULT_TABLE_SIZE);
    expect(c.maxConnections).toBe(DEFAULT_MAX_CONNECTIONS);
  });

  it("accepts named backends, udp, port, IPv6 and both families, table sizes", () => {
    const c = parse(
      variant({
        tcp_port: undefined,
        port: 53,
        protocol: "udp",
        vip: ["10.0.0.100", "fd00::100"],
        backends: [{ mac: "02-00-00-00-00-0B", name: "dns1" }, "02:00:00:00:00:0c"],
        maglevTableSize: 251,
        maxConnections: 1000,
      }),
    );
    expect(c.protocol).toBe("udp");
    expect(c.port).toBe(53);
    expect(c.vip6?.[0]).toBe(0xfd);
    expect(c.vip6?.[15]).toBe(0x00);
    expect(c.vip6?.[14]).toBe(0x01);
    expect(c.backends.map((b) => b.name)).toEqual(["dns1", "02:00:00:00:00:0c"]);
    expect(c.tableSize).toBe(251);
    expect(c.maxConnections).toBe(1000);
    expect(parse(variant({ vip: "fd00::100" })).vip4).toBeUndefined();
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ["an unknown key", { tcpPort: 80 }, "lb.yml: unknown key 'tcpPort' (expected listenInterface, tcp_port, port, protocol, vip, backends, maglevTableSize, maxConnections, previousBackendSeconds)"],
    ["a missing interface", { listenInterface: undefined }, "lb.yml: listenInterface: missing"],
    ["a bad interface name", { listenInterface: "eth1/x" }, "lb.yml: listenInterface: 'eth1/x' is not an interface name (1 to 15 characters, no '/', ':' or spaces)"],
    ["a long interface name", { listenInterface: "averyveryverylongname" }, "lb.yml: listenInterface: 'averyveryverylongname' is not an interface name (1 to 15 characters, no '/', ':' or spaces)"],
    ["a missing port", { tcp_port: undefined }, "lb.yml: tcp_port: missing (the service port, 1..65535)"],
    ["port 0", { tcp_port: 0 }, "lb.yml: tcp_port: 0 is out of range (1..65535)"],
    ["port 65536", { tcp_port: 65536 }, "lb.yml: tcp_port: 65536 is out of range (1..65535)"],
    ["a port string", { tcp_port: "http" }, "lb.yml: tcp_port: expected an integer, not 'http'"],
    ["a fractional port", { tcp_port: 80.5 }, "lb.yml: tcp_port: expected an integer, not 80.5"],
    ["tcp_port and port", { port: 81 }, "lb.yml: port: give tcp_port or port, not both"],
    ["a bad protocol", { protocol: "sctp" }, "lb.yml: protocol: expected tcp or udp, not 'sctp'"],
    ["a missing vip", { vip: undefined }, "lb.yml: vip: missing (the service address the backends hold on loopback: an IPv4 address, an IPv6 address, or a list of one of each)"],
    ["a malformed vip", { vip: "10.0.0.300" }, "lb.yml: vip: '10.0.0.300' is not an IPv4 or IPv6 address"],
    ["a vip prefix", { vip: "10.0.0.0/24" }, "lb.yml: vip: '10.0.0.0/24' is not an IPv4 or IPv6 address"],
    ["an unspecified vip", { vip: "0.0.0.0" }, "lb.yml: vip: '0.0.0.0' is the unspecified address, not a service address"],
    ["a multicast vip", { vip: "ff02::1" }, "lb.yml: vip: 'ff02::1' is a multicast or broadcast address, not a service address"],
    ["two IPv4 vips", { vip: ["10.0.0.1", "10.0.0.2"] }, "lb.yml: vip[1]: a second IPv4 address ('10.0.0.2'): one service address per family"],
    ["three vips", { vip: ["10.0.0.1", "fd00::1", "10.0.0.2"] }, "lb.yml: vip: 3 entries is more than the capacity of 2"],
    ["an empty vip list", { vip: [] }, "lb.yml: vip: empty: give an IPv4 address, an IPv6 address, or one of each"],
    ["a numeric vip", { vip: 10 }, "lb.yml: vip: expected a non-empty string, not 10"],
    ["missing backends", { backends: undefined }, "lb.yml: backends: missing"],
    ["an empty backend list", { backends: [] }, "lb.yml: backends: empty: at least one backend MAC address is needed"],
    ["backends not a list", { backends: "02:00:00:00:00:0b" }, "lb.yml: backends: expected a list, not '02:00:00:00:00:0b'"],
    ["a malformed MAC", { backends: ["02:00:00:00:00:0b", "02:00:00:00:0c"] }, "lb.yml: backends[1]: '02:00:00:00:0c' is not a MAC address (six hex pairs, like 02:00:00:00:00:01)"],
    ["a MAC with mixed separators", { backends: ["02:00-00:00:00:0b"] }, "lb.yml: backends[0]: '02:00-00:00:00:0b' is not a MAC address (six hex pairs, like 02:00:00:00:00:01)"],
    ["a duplicate MAC", { backends: ["02:00:00:00:00:0b", "02:00:00:00:00:0B"] }, "lb.yml: backends[1]: duplicate MAC 02:00:00:00:00:0b (also backends[0])"],
    ["a zero MAC", { backends: ["00:00:00:00:00:00"] }, "lb.yml: backends[0]: '00:00:00:00:00:00' is the all-zero MAC, not a backend's address"],
    ["a broadcast MAC", { backends: ["ff:ff:ff:ff:ff:ff"] }, "lb.yml: backends[0]: 'ff:ff:ff:ff:ff:ff' is a multicast or broadcast MAC, not a backend's address"],
    ["a numeric backend", { backends: [12] }, "lb.yml: backends[0]: expected a mapping, not 12"],
    ["an unknown backend key", { backends: [{ mac: "02:00:00:00:00:0b", weight: 2 }] }, "lb.yml: backends[0]: unknown key 'weight' (expected mac, name)"],
    ["a backend without mac", { backends: [{ name: "web1" }] }, "lb.yml: backends[0].mac: missing"],
    ["a duplicate name", { backends: [{ mac: "02:00:00:00:00:0b", name: "w" }, { mac: "02:00:00:00:00:0c", name: "w" }] }, "lb.yml: backends[1]: duplicate name 'w' (also backends[0])"],
    ["too many backends", { backends: Array.from({ length: 257 }, (_, i) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`) }, "lb.yml: backends: 257 entries is more than the capacity of 256"],
    ["a non-prime table", { maglevTableSize: 1000 }, "lb.yml: maglevTableSize: 1000 is not a prime (Maglev needs a prime table size, like 251, 65537 or 655373)"],
    ["a table too small", { maglevTableSize: 2 }, "lb.yml: maglevTableSize: 2 is out of range (3..1000003)"],
    ["fewer slots than backends", { maglevTableSize: 3, backends: ["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:04"] }, "lb.yml: maglevTableSize: 3 slots are fewer than the 4 backends"],
    ["no connections", { maxConnections: 0 }, "lb.yml: maxConnections: 0 is out of range (1..16777216)"],
    ["a name with a newline", { backends: [{ mac: "02:00:00:00:00:0b", name: "web\n1" }] }, 'lb.yml: backends[0].name: "web\\n1" has a control or unprintable character (names are printable text)'],
    ["a name with a tab", { backends: [{ mac: "02:00:00:00:00:0b", name: "a\tb" }] }, 'lb.yml: backends[0].name: "a\\tb" has a control or unprintable character (names are printable text)'],
    ["a name with an escape sequence", { backends: [{ mac: "02:00:00:00:00:0b", name: "\u001b[31mred" }] }, 'lb.yml: backends[0].name: "\\u001b[31mred" has a control or unprintable character (names are printable text)'],
    ["a name with a zero-width character", { backends: [{ mac: "02:00:00:00:00:0b", name: "we\u200bb" }] }, 'lb.yml: backends[0].name: "we\u200bb" has a control or unprintable character (names are printable text)'],
    ["a name of 64 ASCII bytes", { backends: [{ mac: "02:00:00:00:00:0b", name: "n".repeat(64) }] }, `lb.yml: backends[0].name: '${"n".repeat(20)}…' is 64 bytes (UTF-8), more than 63`],
    ["a name of 32 two-byte characters (64 bytes)", { backends: [{ mac: "02:00:00:00:00:0b", name: "é".repeat(32) }] }, `lb.yml: backends[0].name: '${"é".repeat(20)}…' is 64 bytes (UTF-8), more than 63`],
    ["a name of 60 non-ASCII characters", { backends: [{ mac: "02:00:00:00:00:0b", name: "名".repeat(60) }] }, `lb.yml: backends[0].name: '${"名".repeat(20)}…' is 180 bytes (UTF-8), more than 63`],
    [
      "256 names whose description overflows the info map (JSON escapes)",
      { backends: Array.from({ length: 256 }, (_, i) => ({ mac: macOf(i), name: `${String(i).padStart(3, "0")}${'"'.repeat(60)}` })) },
      "lb.yml: backends: the instance description (service, backend names and MACs) would be 43658 bytes, more than the 32767 its map holds: use shorter backend names",
    ],
  ];
  for (const [what, changes, message] of cases) {
    it(`rejects ${what}`, () => expect(rejection(changes)).toBe(message));
  }

  it("accepts 256 backends with the longest names (63 bytes each, 3-byte characters too): the description fits", () => {
    const ascii = parse(variant({ backends: Array.from({ length: 256 }, (_, i) => ({ mac: macOf(i), name: `${String(i).padStart(3, "0")}${"x".repeat(60)}` })) }));
    expect(ascii.backends).toHaveLength(256);
    const wide = parse(variant({ backends: Array.from({ length: 256 }, (_, i) => ({ mac: macOf(i), name: `${String(i).padStart(3, "0")}${"名".repeat(20)}` })) }));
    expect(Buffer.byteLength(wide.backends[255]?.name ?? "")).toBe(63);
  });

  it("rejects a document that is not a mapping, and an empty one", () => {
    expect(() => parse("- a\n- b\n")).toThrow("lb.yml: expected a mapping, not [\"a\",\"b\"]");
    expect(() => parse("")).toThrow("lb.yml: listenInterface: missing");
  });

  describe("files", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-lb-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("reads a file, and names it in errors (YAML syntax and missing files too)", () => {
      const good = join(dir, "good.yml");
      writeFileSync(good, base);
      expect(loadConfig(good).listenInterface).toBe("eth1");
      const bad = join(dir, "bad.yml");
      writeFileSync(bad, base.replace("tcp_port: 80", "tcp_port: 99999"));
      expect(() => loadConfig(bad)).toThrow(`${bad}: tcp_port: 99999 is out of range (1..65535)`);
      const syntax = join(dir, "syntax.yml");
      writeFileSync(syntax, "listenInterface: [eth1\n");
      expect(() => loadConfig(syntax)).toThrow(ConfigError);
      expect(() => loadConfig(join(dir, "none.yml"))).toThrow(`${join(dir, "none.yml")}: no such file`);
    });

    it("the CLI refuses a bad config and a bad interval before touching the kernel", async () => {
      const bad = join(dir, "cli-bad.yml");
      writeFileSync(bad, base.replace("02:00:00:00:00:0c", "02:00:00:00:00:zz"));
      const run = async (...argv: string[]) => {
        let out = "";
        const program = new Command("tsebpf").exitOverride();
        const io = { out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
        program.configureOutput({ writeOut: io.out, writeErr: io.err });
        registerLoadbalancer(program, io);
        program.commands.forEach((c) => c.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err }));
        try {
          await program.parseAsync(argv, { from: "user" });
          return { error: undefined, out };
        } catch (e) {
          return { error: (e as Error).message, out };
        }
      };
      expect((await run("loadbalancer", "--config", bad)).error).toBe(`${bad}: backends[1]: '02:00:00:00:00:zz' is not a MAC address (six hex pairs, like 02:00:00:00:00:01)`);
      expect((await run("loadbalancer", "--config", bad, "--interval", "soon")).error).toBe("--interval: expected seconds from 0 to 86400, not 'soon'");
      // Beyond ~24.8 days Node's timers fire every 1 ms: refused, and so is what is not a plain decimal.
      for (const text of ["2200000", "86400.5", "1e3", "-1", "0x10", ""]) {
        expect((await run("loadbalancer", "--config", bad, "--interval", text)).error).toBe(`--interval: expected seconds from 0 to 86400, not '${text}'`);
      }
      // A bad interval is refused before the config is read (the config here is bad too).
      expect((await run("loadbalancer", "--config", bad, "--interval", "86400")).error).toMatch(/is not a MAC address/);
      // --interface is an interface name, never a path: refused before anything is read or removed.
      for (const name of ["..", ".", "a/b", "../packetfilter", "x".repeat(16), "eth 1"]) {
        expect((await run("loadbalancer", "--unpin", "--interface", name)).error).toBe(`--interface: '${name}' is not an interface name (1 to 15 characters, no '/', ':' or spaces)`);
        expect((await run("loadbalancer", "status", "--interface", name)).error).toBe(`--interface: '${name}' is not an interface name (1 to 15 characters, no '/', ':' or spaces)`);
      }
      expect((await run("loadbalancer", "--config", bad, "--pin", "--netlink")).error).toBe("--netlink: a netlink attachment cannot be pinned (--pin needs a bpf_link)");
      expect((await run("loadbalancer", "--mode", "turbo")).error).toMatch(/--mode <mode>' argument 'turbo' is invalid/);
      const help = await run("loadbalancer", "--help");
      expect(help.out).toMatch(/Examples:\n {2}tsebpf loadbalancer /);
      expect(help.out).toMatch(/arp_ignore/);
      const statusHelp = await run("loadbalancer", "status", "--help");
      expect(statusHelp.out).toMatch(/tsebpf loadbalancer status --interface eth1 --json/);
    });

    /** `tsebpf ARGV` as the CLI runs it (errors: `tsebpf: …` on stderr, exit 1). */
    const cli = tsebpf;

    it("check: a good config is one line saying what it runs; nothing is loaded or looked up", async () => {
      const good = join(dir, "check-good.yml");
      // An interface this host does not have: check does not ask the system about it.
      writeFileSync(good, base.replace("eth1", "nosuch0").replace("- 02:00:00:00:00:0c", "- { mac: 02:00:00:00:00:0c, name: web2 }"));
      const line = `${good}: ok: nosuch0 10.0.0.100:80/tcp: 2 backends (02:00:00:00:00:0b, web2 (02:00:00:00:00:0c)); Maglev table 65537 slots, connection table 65536\n`;
      expect(await cli("loadbalancer", "check", good)).toEqual({ code: 0, stdout: line, stderr: "" });
      expect(await cli("loadbalancer", "check", "-c", good)).toEqual({ code: 0, stdout: line, stderr: "" });
      expect(await cli("loadbalancer", "-c", good, "check")).toEqual({ code: 0, stdout: line, stderr: "" });
      const both = join(dir, "check-both.yml");
      writeFileSync(both, variant({ tcp_port: undefined, port: 53, protocol: "udp", vip: ["10.0.0.100", "fd00::100"], backends: ["02:00:00:00:00:0b"], maglevTableSize: 251, maxConnections: 1000 }));
      expect((await cli("loadbalancer", "check", both)).stdout).toBe(
        `${both}: ok: eth1 10.0.0.100:53,[fd00::100]:53/udp: 1 backend (02:00:00:00:00:0b); Maglev table 251 slots, connection table 1000\n`,
      );
    });

    it("check: a bad config is refused with the file and the key, as a start would refuse it", async () => {
      const cases: [string, string, string][] = [
        ["check-mac.yml", base.replace("02:00:00:00:00:0c", "02:00:00:00:00:zz"), "backends[1]: '02:00:00:00:00:zz' is not a MAC address (six hex pairs, like 02:00:00:00:00:01)"],
        ["check-port.yml", base.replace("tcp_port: 80", "tcp_port: 70000"), "tcp_port: 70000 is out of range (1..65535)"],
        ["check-key.yml", `${base}weight: 3\n`, "unknown key 'weight' (expected listenInterface, tcp_port, port, protocol, vip, backends, maglevTableSize, maxConnections, previousBackendSeconds)"],
        ["check-empty.yml", base.replace(/backends:[\s\S]*/, "backends: []\n"), "backends: empty: at least one backend MAC address is needed"],
      ];
      for (const [name, text, why] of cases) {
        const path = join(dir, name);
        writeFileSync(path, text);
        expect(await cli("loadbalancer", "check", path), name).toEqual({ code: 1, stdout: "", stderr: `tsebpf: ${path}: ${why}\n` });
      }
      const missing = join(dir, "none.yml");
      expect(await cli("loadbalancer", "check", missing)).toEqual({ code: 1, stdout: "", stderr: `tsebpf: ${missing}: no such file\n` });
      expect((await cli("loadbalancer", "check", "a.yml", "-c", "b.yml")).stderr).toBe("tsebpf: check: give the configuration file once (a.yml or --config b.yml)\n");
    });

    it("an interface this host does not have is an error naming the file and listenInterface (nothing loaded)", async () => {
      const path = join(dir, "nosuch.yml");
      writeFileSync(path, base.replace("eth1", "nosuch0"));
      const message = `${path}: listenInterface: interface "nosuch0": no such device`;
      expect(await cli("loadbalancer", "-c", path, "--interval", "0")).toEqual({ code: 1, stdout: "", stderr: `tsebpf: ${message}\n` });
      let error: unknown;
      try {
        LoadBalancer.start(loadConfig(path));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toBe(message);
      expect(((error as Error).cause as Error).name).toBe("NoSuchInterfaceError");
    });
  });
});
