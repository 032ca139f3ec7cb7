import { mkdirSync } from "node:fs";
import type { Command } from "commander";
import { Collection, VerifierError, readCollectionSpec, resolveSymbol, runtime, setVariableText, type CollectionOptions } from "../../index.js";
import { applyTypeOptions } from "./load-type.js";
import { CliError, readInput, type Output } from "../io.js";
import { U32_MAX, integerOption } from "./options.js";
import { eventDecoders, printEvents } from "./event-printer.js";
import { programTypeName } from "./prog.js";

interface LoadOptions {
  pin?: string;
  program?: string[];
  logLevel: number;
  verbose?: boolean;
  json?: boolean;
  attach?: boolean;
  ifname?: string;
  xdpMode?: string;
  cgroup?: string;
  set?: string[];
  const?: string[];
  eventType?: string[];
  type?: string[];
}

export function registerLoad(program: Command, io: Output): void {
  program
    .command("load")
    .description("load an object's maps and programs into the kernel (exit 0 only when all load)")
    .argument("<object>", "a clang-built BPF object")
    .option("--pin <dir>", "pin programs at DIR/<name> and maps at DIR/maps/<name> (bpffs), so they stay after exit")
    .option("-p, --program <name...>", "load only these programs (default: every program not in a ?-section)")
    .option("--type <type...>", "program type for every program whose section name gives none (bpftool's prog load type: xdp, tc, socket, cgroup/skb, sk_skb/stream_verdict, or a type name like sched_cls), or NAME=TYPE for one program (overrides its section)")
    .option("--set <name=value...>", "set global variables before load, typed by BTF (integers, true/false, enum names, strings for char[], hex bytes otherwise)")
    .option("--const <name=value...>", "resolve an undefined symbol (inline assembly's r0 = NAME ll; tsebpf inspect lists them) to an integer constant before load (decimal, 0x hex, negative)")
    .option("--log-level <n>", "verifier log level for successful loads (1 basic, 2 verbose)", integerOption("--log-level", 0, U32_MAX), 0)
    .option("--verbose", "on a verifier rejection, print the whole log")
    .option("--json", "print JSON")
    .option("--attach", "attach every program by its section name and run until SIGINT/SIGTERM, then detach")
    .option("--ifname <name>", "interface for XDP and TC programs (with --attach)")
    .option("--xdp-mode <mode>", "native, generic or offload (with --attach)")
    .option("--cgroup <dir>", "cgroup v2 directory for cgroup programs (with --attach)")
    .option("--event-type <type...>", 'with --attach: decode ring buffer / perf array records as this BTF type ("struct event"), or MAP=TYPE for one map; default: hex')
    .addHelpText(
      "after",
      `
Without --pin the objects are released when tsebpf exits: a load check, like a dry run of the
verifier. Maps declared with pinning by name are pinned (or reused) under --pin DIR/maps.
With --attach, programs attach by section name (xdp, tc, tcx/ingress, tracepoint/C/N, raw_tp/N,
tp_btf/N, kprobe/F, cgroup/..., sk_lookup; struct_ops maps are registered, e.g. a TCP congestion
control) and stay until SIGINT/SIGTERM; with --attach --pin, links are pinned under DIR/links
and tsebpf exits, leaving them attached (a .struct_ops map, having no link, stays registered
until its map value is deleted; .struct_ops.link maps are pinned like the others). While
attached, the records of every ring buffer and perf event array are printed as they arrive: hex
bytes, or decoded with --event-type (bigints as strings, char[] as text); --json prints one
object a line.

Every function of an executable section is a program. One whose section name no rule knows
(cls_test, l4lb-demo; \`tsebpf inspect\` shows "unspecified") loads only with --type; without it
the load stops before anything is created, naming those programs. Names libbpf 0.x knew by
prefix (xdp_dummy, sk_skb1, cgroup_skb/egress/1) load with the type 0.x gave them ("guessed").

A program that refers to a symbol the object does not define (inline assembly's r0 = NAME ll,
a variable only declared; \`tsebpf inspect\` lists them) loads only once each is given a value
with --const NAME=VALUE; without it the load stops before anything is created, naming the
symbol. .kconfig externs take CONFIG_* from the kernel's configuration; LINUX_KERNEL_VERSION,
LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER are computed (probed) as libbpf does.

Examples:
  tsebpf load prog.bpf.o                       # does every program pass the verifier?
  tsebpf load old.o --type xdp                 # programs in sections like "l4lb-demo" load as XDP
  tsebpf load old.o --type cls_a=tc cls_b=tc   # one program's type at a time
  tsebpf load prog.bpf.o --pin /sys/fs/bpf/app
  tsebpf load prog.bpf.o --set min_duration_ns=1000000 targ_comm=bash
  tsebpf load asm.bpf.o --const MY_CONST=42    # r0 = MY_CONST ll loads 42
  tsebpf load xdp.bpf.o --attach --ifname eth1
  tsebpf load bootstrap.bpf.o --attach --event-type "struct event" --json`,
    )
    .action(async (file: string, opts: LoadOptions) => {
      const spec = readCollectionSpec(readInput(file));
      for (const assignment of opts.set ?? []) {
        const eq = assignment.indexOf("=");
        if (eq <= 0) throw new CliError(`--set: expected NAME=VALUE, not '${assignment}'`);
        try {
          setVariableText(spec, assignment.slice(0, eq), assignment.slice(eq + 1));
        } catch (e) {
          throw new CliError(`--set ${assignment}: ${(e as Error).message}`);
        }
      }
      for (const assignment of opts.const ?? []) {
        const m = /^([^=]+)=(-?(?:0x[0-9a-f]+|\d+))$/i.exec(assignment);
        if (!m) throw new CliError(`--const: expected NAME=INTEGER, not '${assignment}'`);
        try {
          const text = m[2] as string;
          resolveSymbol(spec, m[1] as string, text.startsWith("-") ? -BigInt(text.slice(1)) : BigInt(text));
        } catch (e) {
          throw new CliError(`--const ${assignment}: ${(e as Error).message}`);
        }
      }
      applyTypeOptions(spec, opts.type ?? [], opts.program);
      const options: CollectionOptions = {
        logLevel: opts.logLevel,
        ...(opts.program ? { programs: opts.program } : {}),
        ...(opts.pin ? { pinPath: `${opts.pin}/maps` } : {}),
      };
      if (opts.pin) mkdirSync(`${opts.pin}/maps`, { recursive: true });
      let c: Collection;
      try {
        c = Collection.load(spec, options);
      } catch (e) {
        if (e instanceof VerifierError && opts.verbose) io.err(`${e.log}\n`);
        throw e;
      }
      try {
        if (opts.pin) for (const [name, p] of c.programs) p.pin(`${opts.pin}/${name}`);
        const programs = [...c.programs].map(([name, p]) => {
          const info = p.info();
          return { name, id: info.id, type: programTypeName(info.type), verified_insns: info.verifiedInstructions, ...(opts.pin ? { pinned: `${opts.pin}/${name}` } : {}) };
        });
        const maps = [...c.maps].map(([name, m]) => ({ name, id: m.info().id }));
        if (opts.json) {
          io.out(`${JSON.stringify({ programs, maps }, null, 2)}\n`);
        } else {
          for (const p of programs) io.out(`program ${p.name}: id ${p.id}, ${p.type}, ${p.verified_insns} instructions verified${p.pinned ? `, pinned at ${p.pinned}` : ""}\n`);
          for (const m of maps) io.out(`map ${m.name}: id ${m.id}\n`);
        }
        if (options.logLevel) for (const [name, p] of c.programs) io.err(`--- verifier log of ${name}\n${p.verifierLog}\n`);
        if (opts.attach) await attachAndWait(c, opts, io);
      } finally {
        c.close();
      }
    });
}

/** Attaches every program, then waits for SIGINT/SIGTERM (or, with --pin, pins the links and returns). */
async function attachAndWait(c: Collection, opts: LoadOptions, io: Output): Promise<void> {
  if (opts.xdpMode && !["native", "generic", "offload"].includes(opts.xdpMode)) throw new CliError(`--xdp-mode: expected native, generic or offload, not '${opts.xdpMode}'`);
  const decoders = eventDecoders(c, opts.eventType);
  const attachments = c.attachAll({
    ...(opts.ifname ? { ifname: opts.ifname } : {}),
    ...(opts.xdpMode ? { xdpMode: opts.xdpMode as runtime.XdpMode } : {}),
    ...(opts.cgroup ? { cgroup: opts.cgroup } : {}),
    skipUnattachable: true,
  });
  try {
    for (const [name, a] of attachments) io.out(`attached ${name}: ${a.description}\n`);
    for (const s of attachments.skipped) io.out(`not attached ${s.program}: ${s.reason}\n`);
    if (opts.pin) {
      mkdirSync(`${opts.pin}/links`, { recursive: true });
      for (const [name, a] of attachments) {
        if (a.pin) a.pin(`${opts.pin}/links/${name}`);
        else {
          attachments.release(name); // not detached when the collection closes
          io.out(`${name} has no link to pin: it stays attached until detached (${a.description})\n`);
        }
      }
      io.out(`pinned under ${opts.pin}: remove it to detach\n`);
      return;
    }
    const stop = new AbortController();
    // Signal listeners do not keep Node running: a timer does, until a signal (or a failure).
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const done = () => stop.abort();
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
    // Said once the handlers are in place: a SIGINT sent on seeing it detaches, never kills.
    io.out("running: Ctrl+C (SIGINT) or SIGTERM detaches and exits\n");
    try {
      // Ring buffer and perf array records are printed as they arrive, until the signal.
      await printEvents(c, decoders, opts.json === true, io, stop.signal);
      if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
    } finally {
      clearInterval(keepAlive);
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
    }
  } finally {
    // With --pin the pins keep the links; closing only drops this process's references.
    attachments.close();
  }
  io.out("detached\n");
}
