/**
 * libbpf (the system's libbpf.so, 1.1 on Debian 12) as a CO-RE oracle: a small C helper,
 * compiled on first use, opens an object, turns every program into BPF_PROG_TYPE_UNSPEC (so the
 * kernel refuses each load at once instead of verifying it: CO-RE relocation happens before)
 * and calls bpf_object__load with libbpf's debug log on stdout. `parseLibbpfCoreLog` reads each
 * relocation's outcome from that log: "prog 'f': relo #3: <type_size> ...", then "patched insn
 * #12 (ALU/ALU64) imm 8 -> 16", or "substituting insn #12 w/ invalid insn" (poisoned).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SOURCE = `#include <stdio.h>
#include <stdarg.h>
#include <bpf/libbpf.h>
static int print(enum libbpf_print_level level, const char *fmt, va_list ap) { (void)level; return vfprintf(stdout, fmt, ap); }
int main(int argc, char **argv) {
  struct bpf_object *obj;
  struct bpf_program *p;
  int err;
  if (argc != 2) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  libbpf_set_print(print);
  obj = bpf_object__open_file(argv[1], NULL);
  if (!obj) { printf("tsebpf-oracle: open failed\\n"); return 0; }
  bpf_object__for_each_program(p, obj) bpf_program__set_type(p, BPF_PROG_TYPE_UNSPEC);
  err = bpf_object__load(obj);
  printf("tsebpf-oracle: load %d\\n", err);
  bpf_object__close(obj);
  return 0;
}
`;

const compiler = ["cc", "clang-19", "gcc"].find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0);

/** Why a C helper against libbpf cannot be built here (no compiler, no libbpf headers), or undefined. */
export const libbpfMissing: string | undefined = !compiler
  ? "no C compiler (cc, clang-19 or gcc)"
  : !existsSync("/usr/include/bpf/libbpf.h")
    ? "libbpf's headers (/usr/include/bpf/libbpf.h, libbpf-dev) are not installed"
    : undefined;

const built = new Map<string, string>();

/**
 * The path of `source` (a C program) compiled against -lbpf into a temporary directory as `name`,
 * built on first use and kept for the rest of the process.
 */
export function buildLibbpfHelper(name: string, source: string): string {
  const known = built.get(name);
  if (known) return known;
  if (libbpfMissing) throw new Error(`libbpf helper ${name}: ${libbpfMissing}`);
  const dir = mkdtempSync(join(tmpdir(), `tsebpf-libbpf-${name}-`));
  const src = join(dir, `${name}.c`);
  const bin = join(dir, name);
  writeFileSync(src, source);
  const r = spawnSync(compiler as string, ["-O1", "-o", bin, src, "-lbpf"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`compiling the libbpf helper ${name} with ${compiler} failed: ${r.stderr}`);
  built.set(name, bin);
  return bin;
}

/** libbpf's debug log for opening and loading `object` (no program is left in the kernel). */
export function libbpfLoadLog(object: string): string {
  const r = spawnSync(buildLibbpfHelper("relo", SOURCE), [object], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`libbpf helper on ${object} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** libbpf's names of the relocation kinds, by kind number. */
export const LIBBPF_KIND: Readonly<Record<string, number>> = {
  byte_off: 0,
  byte_sz: 1,
  field_exists: 2,
  signed: 3,
  lshift_u64: 4,
  rshift_u64: 5,
  local_type_id: 6,
  target_type_id: 7,
  type_exists: 8,
  type_size: 9,
  enumval_exists: 10,
  enumval_value: 11,
  type_matches: 12,
};

/** One relocation as libbpf resolved it. */
export interface LibbpfRelo {
  /** The function libbpf relocated it in (a program, or a subprogram by its own name). */
  readonly func: string;
  /** libbpf's relocation number in the section. */
  readonly number: number;
  readonly kind: number;
  /** Instruction index from the function's first instruction. */
  readonly insn: number;
  /** The new value (imm, imm64 or offset), as libbpf printed it; undefined when poisoned. */
  readonly value: bigint | undefined;
  readonly poison: boolean;
}

export interface LibbpfCoreLog {
  readonly opened: boolean;
  /** Functions whose relocation libbpf could not resolve (the load stops there): `relo #N: failed to relocate`. */
  readonly failed: readonly { readonly func: string; readonly number: number }[];
  /** bpf_object__load's result (negative errno), undefined when the object did not open. */
  readonly load: number | undefined;
  readonly relos: LibbpfRelo[];
}

/** Reads the relocations out of libbpf's debug log. */
export function parseLibbpfCoreLog(log: string): LibbpfCoreLog {
  const kinds = new Map<string, number>();
  const relos: LibbpfRelo[] = [];
  const failed: { func: string; number: number }[] = [];
  const seen = new Set<string>();
  for (const line of log.split("\n")) {
    const head = /^libbpf: prog '([^']+)': relo #(\d+): (.*)$/.exec(line);
    if (!head) continue;
    const [, func, num, rest] = head as unknown as [string, string, string, string];
    const key = `${func}#${num}`;
    if (/^failed to relocate/.test(rest)) failed.push({ func, number: Number(num) });
    const kind = /^<([a-z_0-9]+)>/.exec(rest);
    if (kind) {
      kinds.set(key, LIBBPF_KIND[kind[1] as string] ?? -1);
      continue;
    }
    const patched = /^patched insn #(\d+) \([^)]*\) (imm64|imm|off) (-?\d+) -> (-?\d+)/.exec(rest);
    const poisoned = /^substituting insn #(\d+) w\/ invalid insn/.exec(rest);
    if (!patched && !poisoned) continue;
    if (seen.has(key)) {
      // A poisoned lddw: libbpf substitutes its second slot, then its first; the relocation's
      // instruction is the first.
      const i = relos.findIndex((r) => r.func === func && r.number === Number(num));
      const known = relos[i];
      if (poisoned && known?.poison && Number(poisoned[1]) < known.insn) relos[i] = { ...known, insn: Number(poisoned[1]) };
      continue;
    }
    seen.add(key);
    relos.push({
      func,
      number: Number(num),
      kind: kinds.get(key) ?? -1,
      insn: Number((patched ?? poisoned)?.[1]),
      value: patched ? BigInt(patched[4] as string) : undefined,
      poison: !patched,
    });
  }
  const load = /^tsebpf-oracle: load (-?\d+)/m.exec(log);
  return { opened: !/^tsebpf-oracle: open failed/m.test(log), load: load ? Number(load[1]) : undefined, relos, failed };
}
