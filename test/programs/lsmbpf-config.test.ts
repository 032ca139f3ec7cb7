/** lsmbpf's config: every key optional, everything else strict, one line naming file, key and value. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_GUARD_CONFIG, cgroup2Mount, parseGuardConfig, readGuardConfig, resolveCgroups } from "../../src/programs/lsmbpf/config.js";
import { formatDevice, lsmAvailability } from "../../src/programs/lsmbpf/index.js";
import { parseYaml } from "../../src/programs/common/config.js";

const parse = (text: string) => parseGuardConfig(parseYaml(text, "g.yml"), "g.yml");
const dir = mkdtempSync(join(tmpdir(), "lsmbpf-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lsmbpf config", () => {
  it("an empty file and an absent default file give the defaults", () => {
    expect(parse("")).toEqual(DEFAULT_GUARD_CONFIG);
    expect(DEFAULT_GUARD_CONFIG).toEqual({ mode: "enforce", engine: "auto", allow: { comm: [], cgroup: [] } });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(readGuardConfig()).toEqual(DEFAULT_GUARD_CONFIG);
    } finally {
      process.chdir(cwd);
    }
  });

  it("a named file that is missing is an error", () => {
    expect(() => readGuardConfig(join(dir, "nope.yml"))).toThrow(/nope\.yml: no such file$/);
  });

  it("reads every key", () => {
    expect(parse("mode: audit\nengine: signal\nallow:\n  comm: [runc, conmon]\n  cgroup: [/a/b/, /c]\n")).toEqual({ mode: "audit", engine: "signal", allow: { comm: ["runc", "conmon"], cgroup: ["/a/b", "/c"] } });
  });

  it.each([
    ["modes: audit", "g.yml: unknown key 'modes' (expected mode, engine, allow)"],
    ["mode: permissive", "g.yml: mode: expected enforce or audit, not 'permissive'"],
    ["engine: bpf", "g.yml: engine: expected auto or lsm or signal, not 'bpf'"],
    ["allow: [runc]", "g.yml: allow: expected a mapping, not [\"runc\"]"],
    ["allow: { comms: [x] }", "g.yml: allow: unknown key 'comms' (expected comm, cgroup)"],
    ["allow: { comm: [a-very-long-command] }", "g.yml: allow.comm[0]: 'a-very-long-command' is longer than a command name (15 bytes: the kernel keeps no more)"],
    ["allow: { comm: [runc, runc] }", "g.yml: allow.comm[1]: 'runc' is already listed (allow.comm[0])"],
    ["allow: { comm: [7] }", "g.yml: allow.comm[0]: expected a non-empty string, not 7"],
    ["allow: { cgroup: [system.slice] }", "g.yml: allow.cgroup[0]: 'system.slice' is not a cgroup path (it starts with /, as in /proc/PID/cgroup)"],
    ["allow: { cgroup: [/a/../../b] }", "g.yml: allow.cgroup[0]: '/a/../../b': '..' is not allowed in a cgroup path"],
    ["allow: { cgroup: [/a, /a/] }", "g.yml: allow.cgroup[1]: '/a' is already listed (allow.cgroup[0])"],
  ])("%s is refused in one line", (text, message) => {
    expect(() => parse(text)).toThrow(message);
    try {
      parse(text);
    } catch (e) {
      expect((e as Error).message).not.toContain("\n");
    }
  });

  it("over-capacity allow-lists are refused", () => {
    const many = Array.from({ length: 257 }, (_, i) => `c${i}`).join(", ");
    expect(() => parse(`allow: { comm: [${many}] }`)).toThrow("g.yml: allow.comm: 257 entries is more than the capacity of 256");
  });

  it("cgroup paths resolve to their directory's inode; a missing one names its key", () => {
    const mount = join(dir, "cg");
    mkdirSync(join(mount, "ci", "job"), { recursive: true });
    const config = parse("allow: { cgroup: [/ci/job, /] }");
    const ids = resolveCgroups(config, "g.yml", mount);
    expect(ids).toHaveLength(2);
    expect(typeof ids[0]).toBe("bigint");
    expect(() => resolveCgroups(parse("allow: { cgroup: [/ci, /gone] }"), "g.yml", mount)).toThrow(/^g\.yml: allow\.cgroup\[1\]: no such cgroup \(.*\/gone\) \('\/gone'\)$/);
    expect(() => resolveCgroups(parse("allow: { cgroup: [/x] }"), "g.yml", null)).toThrow("g.yml: allow.cgroup[0]: cgroup v2 is not mounted ('/x')");
  });

  it("finds the cgroup2 mount (hybrid hierarchies too)", () => {
    expect(cgroup2Mount("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n")).toBe("/sys/fs/cgroup/unified");
    expect(cgroup2Mount("proc /proc proc rw 0 0\n")).toBeUndefined();
  });

  it("says what is missing for BPF LSM and how to enable it", () => {
    const notListed = lsmAvailability("lockdown,capability,landlock\n", () => ({ supported: true }));
    expect(notListed).toMatchObject({ usable: false, reason: "BPF LSM is not active (/sys/kernel/security/lsm: lockdown,capability,landlock)" });
    expect(notListed.hint).toContain("lsm=lockdown,capability,landlock,bpf");
    const refused = lsmAvailability("capability,bpf", () => ({ supported: false, reason: "EPERM" }));
    expect(refused.usable).toBe(false);
    expect(refused.reason).toMatch(/^this kernel refuses LSM programs \(BPF_PROG_LOAD: EPERM; BPF trampolines are not available/);
    expect(lsmAvailability("capability,bpf", () => ({ supported: true }))).toEqual({ usable: true, lsms: ["capability", "bpf"] });
  });

  it("formats kernel device numbers", () => {
    expect(formatDevice((8 << 20) | 1)).toBe("8:1");
    expect(formatDevice((259 << 20) | 65536)).toBe("259:65536");
  });
});
