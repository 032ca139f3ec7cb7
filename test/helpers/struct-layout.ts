/** A struct of a program object's BTF, as its size and its members' byte offsets (layout tests). */
import { readFileSync } from "node:fs";
import { readCollectionSpec } from "../../src/elf/index.js";
import { programObjectPath } from "../../src/programs/common/run.js";

export interface StructLayout {
  readonly kind?: string;
  readonly size?: number;
  readonly members: [string, number][];
}

/** The object of `src/programs/<program>`, and a reader of its structs' layouts. */
export function programObject(program: string) {
  const spec = readCollectionSpec(readFileSync(programObjectPath(program)));
  const layout = (name: string): StructLayout => {
    const id = spec.btf?.find(name);
    const t = id === undefined ? undefined : spec.btf?.type(id);
    return {
      ...(t ? { kind: t.kind } : {}),
      ...(t && "size" in t ? { size: t.size } : {}),
      members: t && "members" in t ? t.members.map((m) => [m.name, m.bitOffset / 8] as [string, number]) : [],
    };
  };
  return { spec, layout };
}
