import type { Command } from "commander";
import { BpfMap, elf, runtime, type MapInfo } from "../../index.js";
import { CliError, hexBytes, parseHex, type Output } from "../io.js";
import { objectRef } from "./objects.js";

function openMap(ref: string[]): BpfMap {
  const r = objectRef(ref, "map");
  if (r.kind === "id") return BpfMap.fromId(r.value);
  if (r.kind === "pinned") return BpfMap.fromPin(r.path);
  const found = runtime.listMaps().filter((m) => m.name === r.name);
  if (found.length !== 1) throw new CliError(found.length ? `${found.length} maps are named ${r.name}: use id` : `no map named ${r.name}`);
  return BpfMap.fromId((found[0] as MapInfo).id);
}

const mapJson = (m: MapInfo) => ({
  id: m.id,
  type: elf.mapTypeName(m.type).toLowerCase(),
  name: m.name,
  flags: m.flags,
  bytes_key: m.keySize,
  bytes_value: m.valueSize,
  max_entries: m.maxEntries,
  btf_id: m.btfId,
});

/** Bytes from `--key`/`--value` hex text, checked against the size they must have. */
function bytesOf(text: string | undefined, size: number, what: string): Buffer {
  if (text === undefined) throw new CliError(`--${what} is required`);
  const bytes = parseHex(text);
  if (!bytes) throw new CliError(`--${what}: '${text}' is not hex bytes (e.g. "01 00 00 00")`);
  if (bytes.byteLength !== size) throw new CliError(`--${what}: ${bytes.byteLength} bytes given, the map's ${what}s are ${size}`);
  return Buffer.from(bytes);
}

export function registerMap(program: Command, io: Output): void {
  const map = program.command("map").description("BPF maps: list, show, dump, lookup, update, delete (keys and values as hex bytes)");
  map
    .command("list")
    .alias("show")
    .description("list maps, or show one: [id N | pinned PATH | name NAME]")
    .argument("[ref...]", "id N, pinned PATH or name NAME")
    .option("--json", "print JSON")
    .action((ref: string[], opts: { json?: boolean }) => {
      let infos: MapInfo[];
      if (ref.length) {
        using m = openMap(ref);
        infos = [m.info()];
      } else {
        infos = runtime.listMaps();
      }
      if (opts.json) {
        io.out(`${JSON.stringify(ref.length ? mapJson(infos[0] as MapInfo) : infos.map(mapJson), null, 2)}\n`);
        return;
      }
      for (const m of infos) {
        io.out(`${m.id}: ${elf.mapTypeName(m.type).toLowerCase()}  name ${m.name}  flags 0x${m.flags.toString(16)}\n`);
        io.out(`\tkey ${m.keySize}B  value ${m.valueSize}B  max_entries ${m.maxEntries}${m.btfId ? `  btf_id ${m.btfId}` : ""}\n`);
      }
    });
  map
    .command("dump")
    .description("every entry of a map")
    .argument("<ref...>", "id N, pinned PATH or name NAME")
    .option("--json", "print JSON")
    .action((ref: string[], opts: { json?: boolean }) => {
      using m = openMap(ref);
      const entries = [...m.entries()];
      if (opts.json) {
        io.out(`${JSON.stringify(entries.map(([k, v]) => ({ key: hexBytes(k), value: m.perCpu ? m.perCpuValues(v).map(hexBytes) : hexBytes(v) })), null, 2)}\n`);
        return;
      }
      for (const [k, v] of entries) {
        if (m.perCpu) {
          io.out(`key: ${hexBytes(k)}\n`);
          m.perCpuValues(v).forEach((c, cpu) => io.out(`\tcpu${cpu}: ${hexBytes(c)}\n`));
        } else {
          io.out(`key: ${hexBytes(k)}  value: ${hexBytes(v)}\n`);
        }
      }
      io.out(`Found ${entries.length} element${entries.length === 1 ? "" : "s"}\n`);
    });
  map
    .command("lookup")
    .description("the value of one key")
    .argument("<ref...>", "id N, pinned PATH or name NAME")
    .requiredOption("--key <hex>", "the key as hex bytes")
    .option("--json", "print JSON")
    .action((ref: string[], opts: { key: string; json?: boolean }) => {
      using m = openMap(ref);
      const v = m.lookup(bytesOf(opts.key, m.keySize, "key"));
      if (!v) throw new CliError(`map "${m.name}": no entry for key ${opts.key}`);
      io.out(opts.json ? `${JSON.stringify({ key: opts.key, value: hexBytes(v) })}\n` : `key: ${hexBytes(bytesOf(opts.key, m.keySize, "key"))}  value: ${hexBytes(v)}\n`);
    });
  map
    .command("update")
    .description("create or replace one entry")
    .argument("<ref...>", "id N, pinned PATH or name NAME")
    .requiredOption("--key <hex>", "the key as hex bytes")
    .requiredOption("--value <hex>", "the value as hex bytes (per-CPU maps: every CPU's value, 8-byte aligned)")
    .option("--noexist", "fail when the key exists")
    .option("--exist", "fail when the key does not exist")
    .action((ref: string[], opts: { key: string; value: string; noexist?: boolean; exist?: boolean }) => {
      using m = openMap(ref);
      m.update(bytesOf(opts.key, m.keySize, "key"), bytesOf(opts.value, m.userValueSize, "value"), opts.noexist ? 1 : opts.exist ? 2 : 0);
    });
  map
    .command("delete")
    .description("delete one entry")
    .argument("<ref...>", "id N, pinned PATH or name NAME")
    .requiredOption("--key <hex>", "the key as hex bytes")
    .action((ref: string[], opts: { key: string }) => {
      using m = openMap(ref);
      if (!m.delete(bytesOf(opts.key, m.keySize, "key"))) throw new CliError(`map "${m.name}": no entry for key ${opts.key}`);
    });
}
