/**
 * BTF: parse and marshal every kind, `.BTF.ext` records, type queries. Pure: no I/O.
 * (Reading /sys/kernel/btf belongs to the runtime; it hands the bytes here.)
 */
export * from "./types.js";
export * from "./errors.js";
export * from "./header.js";
export * from "./btf.js";
export * from "./marshal.js";
export * from "./ext.js";
export * from "./query.js";
export * from "./dump-raw.js";
export * from "./dump-json.js";
export * from "./dump-c.js";
export * as core from "./core/index.js";
export * from "./sanitize.js";
export * from "./datasec-kernel.js";
