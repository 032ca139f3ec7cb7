/** The runtime: kernel objects owned from TypeScript (maps, programs, collections), probes. */
export * from "./errors.js";
export * from "./fd.js";
export * from "./map.js";
export * from "./map-batch.js";
export * from "./program.js";
export * from "./verifier-error.js";
export * from "./collection.js";
export { PinMismatchError } from "./load-maps.js";
export { ResolveError } from "./link-program.js";
export { KconfigError } from "./kconfig-values.js";
export * from "./kernel-btf.js";
export * from "./probe.js";
export * from "./objects.js";
export * from "./codec.js";
export * from "./kernel-objects-btf.js";
export * from "./link.js";
export * from "./attach-trace.js";
export * from "./attach-net.js";
