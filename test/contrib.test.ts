/**
 * contrib/: the systemd units and the Kubernetes DaemonSets name exactly the capabilities each
 * program's README section says it needs, run the program with flags it has, and are valid
 * (systemd-analyze verify where systemd is installed; YAML the `yaml` package parses).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import type { Command } from "commander";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { createProgram } from "../src/cli/program.js";
import { parseConfig as parseLoadBalancerConfig } from "../src/programs/loadbalancer/config.js";
import { parseConfig as parsePacketFilterConfig } from "../src/programs/packetfilter/config.js";
import { itWith } from "./helpers/oracle.js";

const ROOT = join(import.meta.dirname, "..");
const PROGRAMS = ["packetfilter", "loadbalancer", "jittergen", "comtrace", "lsmbpf"] as const;
/** The programs that re-read their config on SIGHUP (comtrace has none: SIGHUP would end it). */
const RELOADS = new Set(["packetfilter", "loadbalancer", "jittergen", "lsmbpf"]);

/** The capabilities the README's section of a program says it needs: "Needs CAP_X and CAP_Y" (jittergen's: "without CAP_X or CAP_Y"). */
function readmeCapabilities(program: string): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`### ${program} — `);
  expect(start, `README has a section for ${program}`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf("\n##", start + 4);
  const m = /(?:Needs|without)\s+(CAP_[A-Z_]+(?:\s+(?:and|or)\s+CAP_[A-Z_]+)*)/.exec(readme.slice(start, end));
  expect(m, `README's ${program} section says what it needs`).not.toBeNull();
  return (m?.[1] ?? "").split(/\s+(?:and|or)\s+/).sort();
}

/** A unit file's `Key=value` lines of a section (repeated keys: every value). */
function unitSection(text: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1] ?? "";
    else if (current === section) {
      const at = line.indexOf("=");
      out.set(line.slice(0, at), [...(out.get(line.slice(0, at)) ?? []), line.slice(at + 1)]);
    }
  }
  return out;
}

const words = (value: string | undefined): string[] => (value ?? "").split(/\s+/).filter((w) => w !== "");

let cli: Promise<Command> | undefined;
/** The options (long and short flags) of `tsebpf <program>`. */
async function flagsOf(program: string): Promise<Set<string>> {
  cli ??= createProgram({ out: () => undefined, err: () => undefined }, [...PROGRAMS]);
  const command = (await cli).commands.find((c) => c.name() === program);
  expect(command, `tsebpf ${program} exists`).toBeDefined();
  return new Set(["--help", ...(command?.options ?? []).flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined))]);
}

/** Every flag of an argument list is one the program has. */
async function expectKnownFlags(program: string, args: readonly string[]): Promise<void> {
  const flags = await flagsOf(program);
  for (const arg of args.filter((a) => a.startsWith("-"))) expect(flags.has(arg.split("=")[0] ?? arg), `tsebpf ${program} has ${arg}`).toBe(true);
}

const unitPath = (program: string) => join(ROOT, "contrib", "systemd", `tsebpf-${program}.service`);

describe("contrib/systemd", () => {
  for (const program of PROGRAMS) {
    it(`tsebpf-${program}.service runs tsebpf ${program} with its flags and exactly the capabilities the README names`, async () => {
      const text = readFileSync(unitPath(program), "utf8");
      const service = unitSection(text, "Service");
      // Every flag the unit names, in its comments too (what to add), is one the program has
      // (systemctl's own aside).
      const ours = text.split("\n").filter((line) => !line.includes("systemctl"));
      await expectKnownFlags(program, ours.join("\n").match(/(?<=\s)--[a-z][a-z-]*/g) ?? []);
      const needs = readmeCapabilities(program);
      expect(words(service.get("CapabilityBoundingSet")?.join(" ")).sort()).toEqual(needs);
      expect(words(service.get("AmbientCapabilities")?.join(" ")).sort()).toEqual(needs);
      expect(service.get("NoNewPrivileges")).toEqual(["yes"]);
      expect(service.get("Restart")).toEqual(["on-failure"]);
      // Settings that make /sys read-only would break bpffs and tracefs.
      for (const key of ["ProtectKernelTunables", "ProtectControlGroups", "PrivateNetwork", "MemoryDenyWriteExecute"]) expect(service.has(key), key).toBe(false);
      const exec = words(service.get("ExecStart")?.[0]);
      expect(exec.slice(0, 3)).toEqual(["/usr/bin/env", "tsebpf", program]);
      await expectKnownFlags(program, exec.slice(3));
      if (RELOADS.has(program)) {
        expect(service.get("ExecReload")).toEqual(["/bin/kill -HUP $MAINPID"]);
        expect(exec.join(" ")).toContain(`/etc/tsebpf/${program}.yml`);
      } else {
        expect(service.has("ExecReload")).toBe(false);
      }
    });
  }

  const analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => existsSync(p));
  itWith(analyze === undefined ? "systemd-analyze (systemd) is not installed" : undefined)("systemd-analyze verify accepts every unit, without a warning", () => {
    // verify checks that ExecStart's binary exists: /usr/bin/env does wherever systemd is.
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-units-"));
    try {
      for (const program of PROGRAMS) {
        const copy = join(dir, `tsebpf-${program}.service`);
        writeFileSync(copy, readFileSync(unitPath(program)));
        const r = spawnSync(analyze ?? "systemd-analyze", ["verify", copy], { encoding: "utf8", env: { ...process.env, SYSTEMD_LOG_LEVEL: "warning" } });
        expect({ program, status: r.status, stderr: r.stderr.trim() }).toEqual({ program, status: 0, stderr: "" });
      }
      // The check can fail: a unit with an unknown key is reported.
      const bad = join(dir, "tsebpf-bad.service");
      writeFileSync(bad, readFileSync(unitPath("loadbalancer"), "utf8").replace("Restart=on-failure", "Restart=on-failure\nAmbientCapabilitiez=CAP_BPF"));
      expect(spawnSync(analyze ?? "systemd-analyze", ["verify", bad], { encoding: "utf8" }).stderr).toContain("AmbientCapabilitiez");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface K8sObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    template: {
      spec: {
        hostNetwork?: boolean;
        containers: {
          command: string[];
          securityContext: { privileged?: boolean; allowPrivilegeEscalation?: boolean; capabilities: { add?: string[]; drop?: string[] } };
          volumeMounts: { name: string; mountPath: string; subPath?: string }[];
        }[];
        volumes: { name: string; hostPath?: { path: string }; configMap?: { name: string } }[];
      };
    };
  };
}

describe("contrib/kubernetes", () => {
  const configParsers: Record<string, (text: string, source: string) => unknown> = {
    packetfilter: (text, source) => parsePacketFilterConfig(text, source),
    loadbalancer: (text, source) => parseLoadBalancerConfig(parseAllDocuments(text)[0]?.toJS(), source),
  };
  for (const program of ["packetfilter", "loadbalancer"] as const) {
    it(`${program}.yaml: a DaemonSet on the host network with exactly the README's capabilities, bpffs, and its ConfigMap as a folder`, async () => {
      const manifest = readFileSync(join(ROOT, "contrib", "kubernetes", `${program}.yaml`), "utf8");
      await expectKnownFlags(program, manifest.match(/(?<=[\s"])--[a-z][a-z-]*/g) ?? []);
      const docs = parseAllDocuments(manifest);
      for (const d of docs) expect(d.errors).toEqual([]);
      const objects = docs.map((d) => d.toJS() as K8sObject);
      const ds = objects.find((o) => o.kind === "DaemonSet");
      const pod = ds?.spec?.template.spec;
      expect(pod?.hostNetwork).toBe(true);
      expect(pod?.containers).toHaveLength(1);
      const container = pod?.containers[0];
      const security = container?.securityContext;
      expect(security?.privileged).toBe(false);
      expect(security?.allowPrivilegeEscalation).toBe(false);
      expect(security?.capabilities.drop).toEqual(["ALL"]);
      // Kubernetes names capabilities without the CAP_ prefix.
      expect((security?.capabilities.add ?? []).map((c) => `CAP_${c}`).sort()).toEqual(readmeCapabilities(program));
      const command = container?.command ?? [];
      expect(command.slice(0, 2)).toEqual(["tsebpf", program]);
      await expectKnownFlags(program, command.slice(2));
      // bpffs is the node's.
      const bpffs = pod?.volumes.find((v) => v.hostPath?.path === "/sys/fs/bpf");
      expect(container?.volumeMounts.find((m) => m.name === bpffs?.name)?.mountPath).toBe("/sys/fs/bpf");
      // The config: a ConfigMap mounted as a folder (a subPath mount never sees an update), the
      // file -c names is one of its keys, and the program accepts it.
      const configPath = command[command.indexOf("-c") + 1] ?? "";
      const mount = container?.volumeMounts.find((m) => m.mountPath === posix.dirname(configPath));
      expect(mount?.subPath).toBeUndefined();
      const mapName = pod?.volumes.find((v) => v.name === mount?.name)?.configMap?.name;
      const configMap = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === mapName);
      const text = configMap?.data?.[posix.basename(configPath)];
      expect(text, `the ConfigMap holds ${posix.basename(configPath)}`).toBeTypeOf("string");
      expect(() => configParsers[program]?.(text ?? "", `${program}.yaml`)).not.toThrow();
    });
  }
});
