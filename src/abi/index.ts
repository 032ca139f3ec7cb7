/**
 * Kernel ABI constants generated from the kernel's own BTF (`make abi`): program, attach, map
 * and link types. Newer kernels only add members, so these numbers hold for older ones too.
 */
export * from "./enums.generated.js";
export * from "./layouts.generated.js";
export * from "./names.js";
