/** The BPF helper function table: id <-> name <-> C prototype. */
import { HELPERS } from "./helpers.generated.js";

export interface HelperInfo {
  readonly id: number;
  /** The helper's name as in C, e.g. `bpf_map_lookup_elem`. */
  readonly name: string;
  /** The C prototype from libbpf's bpf_helper_defs.h, where it knows the helper. */
  readonly prototype?: string;
}

const byId = new Map<number, HelperInfo>();
const byName = new Map<string, HelperInfo>();
for (const [id, name, prototype] of HELPERS) {
  const info: HelperInfo = prototype === undefined ? { id, name } : { id, name, prototype };
  byId.set(id, info);
  byName.set(name, info);
}

/** The helper with this id, or undefined. */
export const helperById = (id: number): HelperInfo | undefined => byId.get(id);

/** The helper with this name (`bpf_` prefix optional), or undefined. */
export const helperByName = (name: string): HelperInfo | undefined =>
  byName.get(name) ?? byName.get(`bpf_${name}`);

/** Every helper the table knows, by id. */
export const allHelpers = (): HelperInfo[] => [...byId.values()];
