/** `tsebpf link`: the static linker next to the bpf_link subcommands (list, show, detach). */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { linkObjects, readCollectionSpec } from "../../src/elf/index.js";
import { tsebpf } from "./run.js";

const A = "test/fixtures/link_a.bpfel.o";
const B = "test/fixtures/link_b.bpfel.o";

describe("tsebpf link", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-cli-link-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("links objects given as operands into -o FILE (what elf.linkObjects returns)", async () => {
    const out = join(dir, "linked.o");
    const r = await tsebpf("link", A, B, "-o", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`linked 2 objects into ${out} (${readFileSync(out).byteLength} bytes)\n`);
    const bytes = readFileSync(out);
    expect(bytes).toEqual(Buffer.from(linkObjects([{ name: A, bytes: readFileSync(A) }, { name: B, bytes: readFileSync(B) }])));
    expect([...readCollectionSpec(bytes).programs.keys()].sort()).toEqual(["link_main", "link_other"]);
  });

  it("one line and exit 1 for a duplicate definition, a missing -o, a missing file", async () => {
    const dup = await tsebpf("link", A, A, "-o", join(dir, "dup.o"));
    expect(dup).toMatchObject({ code: 1, stdout: "" });
    expect(dup.stderr).toMatch(/^tsebpf: test\/fixtures\/link_a\.bpfel\.o, test\/fixtures\/link_a\.bpfel\.o: symbol \w+ is defined in both objects \(make one static, or weak\)\n$/);
    expect(await tsebpf("link", A, B)).toMatchObject({ code: 1, stderr: "tsebpf: link: name the linked object with -o FILE (tsebpf link a.o b.o -o out.o)\n" });
    expect(await tsebpf("link", A, "nope.o", "-o", join(dir, "x.o"))).toMatchObject({ code: 1, stderr: "tsebpf: nope.o: no such file\n" });
  });

  it("list, show and detach stay subcommands; --help explains both uses", async () => {
    const detach = await tsebpf("link", "detach", "id", "-2");
    expect(detach.code).toBe(1);
    expect(detach.stderr).toMatch(/link id must be from 0 to 4294967295, not '-2'/);
    const help = await tsebpf("link", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: tsebpf link [options] [command] [objects...]");
    expect(help.stdout).toContain("tsebpf link a.o b.o [more.o...] -o out.o");
    expect(help.stdout).toContain("tsebpf link list|show [id N | pinned PATH]");
    expect(help.stdout).toMatch(/reads bpftool's linked output too \(functions and variables are\s+told apart by section and offset; a variable name two share is given as its\s+label, counter@\.bss\+16, which inspect lists\)/);
    expect(help.stdout).toMatch(/extern\s+declarations loads alone where its externs allow/);
    expect(help.stdout).toMatch(/list\|show \[options\] \[ref\.\.\.\]/);
    const top = await tsebpf("--help");
    expect(top.stdout.replace(/\s+/g, " ")).toContain("link [options] [objects...] link BPF objects into one (a.o b.o -o out.o), or bpf_links: list, show, detach");
  });
});
