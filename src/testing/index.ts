/**
 * tsebpf/testing: the fast-check arbitraries tsebpf's own property tests are built on, for
 * property-testing loaders and tools against tsebpf's model of an object — instructions by
 * family, programs whose jumps are valid, BTF types and whole blobs, ELF objects in both byte
 * orders, and object mutations. Pure (no I/O); needs fast-check 4 (an optional peer dependency).
 */
export * from "./instructions.js";
export * from "./programs.js";
export * from "./btf.js";
export * from "./elf.js";
export * from "./mutations.js";
