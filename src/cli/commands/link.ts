import type { Command } from "commander";
import { runtime } from "../../index.js";
import type { Output } from "../io.js";
import { objectRef } from "./objects.js";

function openLink(ref: string[]): runtime.Link {
  const r = objectRef(ref, "link");
  if (r.kind === "id") return runtime.Link.fromId(r.value);
  if (r.kind === "pinned") return runtime.Link.fromPin(r.path);
  throw new Error("links have no names: use id N or pinned PATH");
}

export function registerLink(program: Command, io: Output): void {
  const link = program.command("link").description("bpf_links: list, show, detach");
  link
    .command("list")
    .alias("show")
    .description("list links, or show one: [id N | pinned PATH]")
    .argument("[ref...]", "id N or pinned PATH")
    .option("--json", "print JSON")
    .action((ref: string[], opts: { json?: boolean }) => {
      let infos: runtime.LinkInfo[];
      if (ref.length) {
        using l = openLink(ref);
        infos = [l.info()];
      } else {
        infos = runtime.listLinks();
      }
      if (opts.json) {
        const json = infos.map((l) => ({ id: l.id, type: l.typeName, prog_id: l.programId }));
        io.out(`${JSON.stringify(ref.length ? json[0] : json, null, 2)}\n`);
        return;
      }
      for (const l of infos) io.out(`${l.id}: ${l.typeName}  prog ${l.programId}\n`);
    });
  link
    .command("detach")
    .description("detach a link's program now, even if the link is pinned (BPF_LINK_DETACH)")
    .argument("<ref...>", "id N or pinned PATH")
    .action((ref: string[]) => {
      using l = openLink(ref);
      l.detach();
    });
}
