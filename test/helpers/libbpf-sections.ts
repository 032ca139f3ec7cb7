/**
 * libbpf (the system's libbpf.so, 1.1 on Debian 12) as the oracle for section names: a small C
 * helper, compiled once per test run into a temporary directory, that
 *   - `names`: reads section names on stdin, one a line, and answers each with
 *     libbpf_prog_type_by_name: `ok TYPE ATTACH` or `err ERRNO`;
 *   - `open FILE`: opens an object (bpf_object__open_file, nothing loaded) and prints each program
 *     libbpf found: `NAME\tSECTION\tTYPE\tATTACH\tAUTOLOAD`.
 * Built by libbpf.ts's `buildLibbpfHelper`; its `libbpfMissing` says why it cannot be.
 */
import { spawnSync } from "node:child_process";
import { buildLibbpfHelper } from "./libbpf.js";

const SOURCE = `#include <stdio.h>
#include <string.h>
#include <stdarg.h>
#include <bpf/libbpf.h>
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap) { (void)level; (void)fmt; (void)ap; return 0; }
int main(int argc, char **argv) {
  libbpf_set_print(quiet);
  if (argc == 2 && strcmp(argv[1], "names") == 0) {
    static char line[8192];
    while (fgets(line, sizeof line, stdin)) {
      size_t n = strlen(line);
      if (n && line[n - 1] == '\\n') line[--n] = 0;
      enum bpf_prog_type type = 0;
      enum bpf_attach_type attach = 0;
      int err = libbpf_prog_type_by_name(line, &type, &attach);
      if (err) printf("err %d\\n", err); else printf("ok %d %d\\n", (int)type, (int)attach);
    }
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "open") == 0) {
    struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);
    struct bpf_program *p;
    if (!obj) { printf("open failed\\n"); return 1; }
    bpf_object__for_each_program(p, obj)
      printf("%s\\t%s\\t%d\\t%d\\t%d\\n", bpf_program__name(p), bpf_program__section_name(p), (int)bpf_program__type(p), (int)bpf_program__expected_attach_type(p), bpf_program__autoload(p) ? 1 : 0);
    bpf_object__close(obj);
    return 0;
  }
  return 2;
}
`;

const helper = (): string => buildLibbpfHelper("sections", SOURCE);

/** libbpf's answer for a section name: its type and expected attach type, or the error it returns. */
export type LibbpfTypeAnswer = { known: true; type: number; attach: number } | { known: false; error: number };

/** libbpf_prog_type_by_name for each name (none may contain a newline or NUL). */
export function libbpfProgTypeByName(names: readonly string[]): LibbpfTypeAnswer[] {
  for (const n of names) if (/[\n\0]/.test(n)) throw new Error(`libbpf oracle: section name ${JSON.stringify(n)} has a newline or NUL`);
  const r = spawnSync(helper(), ["names"], { input: names.map((n) => `${n}\n`).join(""), encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`libbpf oracle: exit ${r.status}: ${r.stderr}`);
  const lines = r.stdout.trimEnd().split("\n");
  if (names.length === 0) return [];
  if (lines.length !== names.length) throw new Error(`libbpf oracle: ${lines.length} answers for ${names.length} names`);
  return lines.map((l) => {
    const [status, a, b] = l.split(" ");
    return status === "ok" ? { known: true, type: Number(a), attach: Number(b) } : { known: false, error: Number(a) };
  });
}

/** A program as libbpf's object open sees it. */
export interface LibbpfProgram {
  name: string;
  section: string;
  type: number;
  attach: number;
  autoload: boolean;
}

/** The programs libbpf finds in an object file (opened, not loaded). */
export function libbpfPrograms(file: string): LibbpfProgram[] {
  const r = spawnSync(helper(), ["open", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`libbpf oracle: cannot open ${file}: ${r.stdout}${r.stderr}`);
  return r.stdout.trimEnd().split("\n").filter(Boolean).map((l) => {
    const [name, section, type, attach, autoload] = l.split("\t");
    return { name: name as string, section: section as string, type: Number(type), attach: Number(attach), autoload: autoload === "1" };
  });
}
