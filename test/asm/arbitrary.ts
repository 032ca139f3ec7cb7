/** The instruction arbitraries now ship as `tsebpf/testing` (src/testing/instructions.ts). */
export * from "../../src/testing/instructions.js";
