import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { Program, abi, asm, runtime, type ProgramInfo } from "../../index.js";
import { CliError, hexBytes, parseHex, type Output } from "../io.js";
import { objectRef } from "./objects.js";
import { U32_MAX, integerOption } from "./options.js";

const PROGRAM_TYPE_NAMES = new Map<number, string>(Object.entries(abi.ProgramType).map(([k, v]) => [v, k.toLowerCase()]));
export const programTypeName = (t: number) => PROGRAM_TYPE_NAMES.get(t) ?? `type ${t}`;

function openProgram(ref: string[]): Program {
  const r = objectRef(ref, "program");
  if (r.kind === "id") return Program.fromId(r.value);
  if (r.kind === "pinned") return Program.fromPin(r.path);
  const found = runtime.listPrograms().filter((p) => p.name === r.name);
  if (found.length !== 1) throw new CliError(found.length ? `${found.length} programs are named ${r.name}: use id` : `no program named ${r.name}`);
  return Program.fromId((found[0] as ProgramInfo).id);
}

const programJson = (p: ProgramInfo) => ({
  id: p.id,
  type: programTypeName(p.type),
  name: p.name,
  tag: p.tag,
  gpl_compatible: p.gplCompatible,
  loaded_at: Number(p.loadTime),
  uid: p.createdByUid,
  bytes_xlated: p.xlatedLength,
  bytes_jited: p.jitedLength,
  map_ids: p.mapIds,
  btf_id: p.btfId,
  run_cnt: Number(p.runCount),
  run_time_ns: Number(p.runTimeNs),
  verified_insns: p.verifiedInstructions,
});

function printProgram(io: Output, p: ProgramInfo): void {
  io.out(`${p.id}: ${programTypeName(p.type)}  name ${p.name}  tag ${p.tag}${p.gplCompatible ? "  gpl" : ""}\n`);
  io.out(`\txlated ${p.xlatedLength}B  jited ${p.jitedLength}B${p.mapIds.length ? `  map_ids ${p.mapIds.join(",")}` : ""}${p.btfId ? `  btf_id ${p.btfId}` : ""}\n`);
  if (p.runCount > 0n) io.out(`\trun_cnt ${p.runCount}  run_time_ns ${p.runTimeNs}\n`);
}

/** bpftool-style xlated listing: helper calls by name, map loads by id. */
export function xlatedListing(insns: readonly asm.Instruction[]): string[] {
  const lines: string[] = [];
  let slot = 0;
  for (const ins of insns) {
    let text = asm.formatInstruction(ins, {}, slot);
    if (ins.opcode === 0x85 && ins.src === asm.PseudoCall.HELPER) text = `call ${asm.helperById(ins.imm)?.name ?? "unknown"}#${ins.imm}`;
    if (ins.opcode === asm.LD_IMM64 && (ins.src === asm.PseudoLd.MAP_FD || ins.src === asm.PseudoLd.MAP_VALUE)) {
      text = `r${ins.dst} = map[id:${ins.imm}]${ins.src === asm.PseudoLd.MAP_VALUE ? `[0]+${ins.imm2 ?? 0}` : ""}`;
    }
    lines.push(`${String(slot).padStart(4)}: (${ins.opcode.toString(16).padStart(2, "0")}) ${text}`);
    slot += asm.slotCount(ins);
  }
  return lines;
}

export function registerProg(program: Command, io: Output): void {
  const prog = program.command("prog").description("loaded BPF programs: list, show, dump, run, tracelog");
  prog
    .command("list")
    .alias("show")
    .description("list loaded programs, or show one: [id N | pinned PATH | name NAME]")
    .argument("[ref...]", "id N, pinned PATH or name NAME")
    .option("--json", "print JSON")
    .action((ref: string[], opts: { json?: boolean }) => {
      let infos: ProgramInfo[];
      if (ref.length) {
        using p = openProgram(ref);
        infos = [p.info()];
      } else {
        infos = runtime.listPrograms();
      }
      if (opts.json) io.out(`${JSON.stringify(ref.length ? programJson(infos[0] as ProgramInfo) : infos.map(programJson), null, 2)}\n`);
      else for (const p of infos) printProgram(io, p);
    });
  prog
    .command("dump")
    .description("the program's instructions as the kernel translated them: dump xlated <ref>")
    .argument("<what>", "xlated")
    .argument("<ref...>", "id N, pinned PATH or name NAME")
    .option("--json", "print JSON")
    .action((what: string, ref: string[], opts: { json?: boolean }) => {
      if (what !== "xlated") throw new CliError(`prog dump: only xlated is supported, not ${what}`);
      using p = openProgram(ref);
      const lines = xlatedListing(p.xlated());
      io.out(opts.json ? `${JSON.stringify(lines, null, 2)}\n` : `${lines.join("\n")}\n`);
    });
  prog
    .command("run")
    .description("run a program once (or --repeat N times) with BPF_PROG_TEST_RUN")
    .argument("<ref...>", "id N, pinned PATH or name NAME")
    .option("--data-in <file>", "input data (raw bytes, or hex text); default: 64 zero bytes")
    .option("--ctx-in <file>", "input context (raw bytes, or hex text)")
    .option("--repeat <n>", "runs (the duration is the mean)", integerOption("--repeat", 0, U32_MAX), 1)
    .option("--json", "print JSON")
    .action((ref: string[], opts: { dataIn?: string; ctxIn?: string; repeat: number; json?: boolean }) => {
      const read = (f: string) => {
        const bytes = readFileSync(f);
        return parseHex(bytes.toString("latin1")) ?? bytes;
      };
      using p = openProgram(ref);
      // Packet programs need data: without --data-in or --ctx-in, a zeroed 64-byte frame.
      const data = opts.dataIn ? read(opts.dataIn) : opts.ctxIn ? undefined : Buffer.alloc(64);
      const r = p.testRun({
        ...(data ? { data } : {}),
        ...(opts.ctxIn ? { context: read(opts.ctxIn) } : {}),
        repeat: opts.repeat,
      });
      if (opts.json) {
        io.out(`${JSON.stringify({ retval: r.returnValue, duration: r.duration, data_out: hexBytes(r.data), ctx_out: hexBytes(r.context) }, null, 2)}\n`);
        return;
      }
      io.out(`retval ${r.returnValue}  duration ${r.duration}ns\n`);
      if (r.data.byteLength) io.out(`data_out ${hexBytes(r.data)}\n`);
      if (r.context.byteLength) io.out(`ctx_out ${hexBytes(r.context)}\n`);
    });
  prog
    .command("tracelog")
    .description(
      "print the kernel's trace_pipe (what bpf_printk writes) until SIGINT/SIGTERM; trace_pipe is shared and consuming: lines printed here are gone for other readers",
    )
    .option("--json", "one JSON object per line: task, pid, cpu, flags, timestamp, event, message")
    .action(async (opts: { json?: boolean }) => tracelog(io, opts.json === true));
}

/** `prog tracelog`: trace_pipe's lines as they come (as the kernel wrote them, or as JSON lines), until a signal. */
async function tracelog(io: Output, json: boolean): Promise<void> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    // keepAlive: the epoll wait keeps the command running (signal listeners do not) and wakes
    // as soon as a line arrives; the signal ends it at once.
    for await (const l of runtime.tracePipe({ signal: ac.signal, keepAlive: true })) {
      if (!json) {
        io.out(`${l.line}\n`);
        continue;
      }
      const row = {
        task: l.task,
        pid: l.pid,
        ...(l.tgid !== undefined ? { tgid: l.tgid } : {}),
        cpu: l.cpu,
        flags: l.flags,
        timestamp: Number.isNaN(l.timestamp) ? null : l.timestamp,
        event: l.event,
        message: l.message,
      };
      io.out(`${JSON.stringify(row)}\n`);
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
