import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PIN_DIR, lsmAvailability } from "../../src/programs/lsmbpf/index.js";
import { describeKernel } from "../helpers/kernel.js";
import { parseExposition } from "../helpers/exposition.js";
import { CLI, ProgramRun, scrape, seriesOf } from "../helpers/metrics-run.js";
import { buildChrootTry, chrootTry } from "./lsmbpf/chroot-try.js";

let dir = "";
let helper = "";

/** chroot-try (test/kernel/lsmbpf/chroot-try.c) into `target`, in a new PID namespace or on the host. */
const chroot = (container: boolean, target: string) => chrootTry(helper, container, target);

describeKernel("tsebpf lsmbpf --metrics", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lsmbpf-m-"));
    helper = buildChrootTry(dir);
    mkdirSync(join(dir, "jail"));
  });
  afterAll(() => {
    if (existsSync(PIN_DIR)) spawnSync(process.execPath, [CLI, "lsmbpf", "--unpin"]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves denials by engine, mode and action and the chroots judged, exactly; the engine is the one the probe allows (lsm where it loads, else signal)", async () => {
    const lsm = lsmAvailability();
    const engine = lsm.usable ? "lsm" : "signal";
    const enforced = lsm.usable ? "denied" : "killed";
    const config = join(dir, "guard.yml");
    writeFileSync(config, "mode: audit\nengine: auto\n");
    const run = new ProgramRun(["lsmbpf", "--config", config, "--interval", "0", "--json", "--metrics", "127.0.0.1:0"]);
    const url = await run.metricsUrl();
    await run.waitFor(new RegExp(`engine ${engine}, mode audit`));
    expect(seriesOf(await scrape(url), "tsebpf_lsmbpf_guard_info")).toEqual({ [`engine=${engine},mode=audit`]: 1 });

    // Audit: two would-be denials (the processes live), one container chroot into its own
    // directory and one host chroot (not judged).
    expect(chroot(true, "/")).toMatchObject({ exit: 0, signal: 0 });
    expect(chroot(true, "/")).toMatchObject({ exit: 0, signal: 0 });
    expect(chroot(true, join(dir, "jail"))).toMatchObject({ signal: 0 });
    expect(chroot(false, "/")).toMatchObject({ signal: 0 });
    // Enforce, applied in place: one more, denied (lsm: EPERM) or killed (signal).
    writeFileSync(config, "mode: enforce\nengine: auto\n");
    run.child.kill("SIGHUP");
    await run.waitFor(/reloaded .*mode enforce/);
    const enforcedRun = chroot(true, "/");
    expect(enforcedRun.signal).toBe(lsm.usable ? 0 : 9);
    await run.waitFor(new RegExp(`"action":"${enforced}"`));

    const m = await scrape(url);
    expect(seriesOf(m, "tsebpf_lsmbpf_denials_total")).toEqual({
      [`action=denied,engine=${engine},mode=enforce`]: lsm.usable ? 1 : 0,
      [`action=killed,engine=${engine},mode=enforce`]: lsm.usable ? 0 : 1,
      [`action=kill_failed,engine=${engine},mode=enforce`]: 0,
      [`action=audited,engine=${engine},mode=audit`]: 2,
    });
    expect(seriesOf(m, "tsebpf_lsmbpf_container_chroots_total")).toEqual({ [`engine=${engine}`]: 4 });
    expect(seriesOf(m, "tsebpf_lsmbpf_host_root_chroots_total")).toEqual({ [`engine=${engine}`]: 3 });
    expect(seriesOf(m, "tsebpf_lsmbpf_allowed_total")).toEqual({ [`by=comm,engine=${engine}`]: 0, [`by=cgroup,engine=${engine}`]: 0 });
    expect(seriesOf(m, "tsebpf_lsmbpf_guard_info")).toEqual({ [`engine=${engine},mode=enforce`]: 1 });
    expect(seriesOf(m, "tsebpf_events_lost_total")).toEqual({ "program=lsmbpf": 0 });
    expect(Object.values(seriesOf(m, "tsebpf_build_info"))).toEqual([1]);
    expect(await run.stop()).toBe(0);
  });

  it("status --metrics reads a pinned guard; without one it says so in one line", async () => {
    const none = spawnSync(process.execPath, [CLI, "lsmbpf", "status", "--metrics"], { encoding: "utf8" });
    expect(none.status).toBe(1);
    expect(none.stderr.trim()).toBe(`tsebpf: no chroot guard pinned (${PIN_DIR}): nothing to print metrics of`);
    writeFileSync(join(dir, "pinned.yml"), "engine: signal\n");
    const pin = spawnSync(process.execPath, [CLI, "lsmbpf", "--config", join(dir, "pinned.yml"), "--engine", "signal", "--mode", "audit", "--pin"], { encoding: "utf8" });
    expect(pin.status, pin.stderr).toBe(0);
    try {
      expect(chroot(true, "/").signal).toBe(0);
      const status = spawnSync(process.execPath, [CLI, "lsmbpf", "status", "--metrics"], { encoding: "utf8" });
      expect(status.stderr).toBe("");
      const m = parseExposition(status.stdout);
      expect(seriesOf(m, "tsebpf_lsmbpf_denials_total")["action=audited,engine=signal,mode=audit"]).toBe(1);
      expect(seriesOf(m, "tsebpf_lsmbpf_host_root_chroots_total")).toEqual({ "engine=signal": 1 });
      expect(seriesOf(m, "tsebpf_lsmbpf_guard_info")).toEqual({ "engine=signal,mode=audit": 1 });
    } finally {
      expect(spawnSync(process.execPath, [CLI, "lsmbpf", "--unpin"], { encoding: "utf8" }).status).toBe(0);
    }
    // --metrics does not go with --pin: one line, nothing pinned.
    const both = spawnSync(process.execPath, [CLI, "lsmbpf", "--pin", "--metrics", "127.0.0.1:0"], { encoding: "utf8" });
    expect(both.status).toBe(1);
    expect(both.stderr.trim()).toMatch(/^tsebpf: --metrics needs the process that serves them/);
    expect(existsSync(PIN_DIR)).toBe(false);
  });
});
