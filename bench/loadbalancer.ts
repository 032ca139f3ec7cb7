/**
 * #7 loadbalancer data path: ns per packet through BPF_PROG_TEST_RUN against a trivial XDP_TX
 * program on the same frames, for new flows (10k distinct flows, each run once: a Maglev pick
 * and a connection-table insert) and for established flows (one flow repeated).
 */
import { asm, runtime } from "../src/index.js";
import { ProgramType } from "../src/abi/index.js";
import { parseYaml } from "../src/programs/common/config.js";
import { parseConfig } from "../src/programs/loadbalancer/config.js";
import { PROGRAM_NAME, loadCollection } from "../src/programs/loadbalancer/index.js";
import { frame } from "../test/helpers/packets.js";
import { median, type Figure } from "./lib.js";

const FLOWS = 10_000;
const REPEAT = 200_000;
const ROUNDS = 7;
const VIP = "10.0.0.100";
const MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);

const flow = (i: number) => frame({ src: `192.168.${(i >> 8) & 255}.${i & 255}`, dst: VIP, protocol: "tcp", srcPort: 10_000 + (i >> 16), dstPort: 80, length: 64 });

/** Mean ns per packet over 10k distinct flows, one run each (the kernel's timing of each run). */
function newFlows(program: runtime.Program): number {
  const rounds: number[] = [];
  for (let r = 0; r < 3; r++) {
    let sum = 0;
    for (let i = 0; i < FLOWS; i++) sum += program.testRun({ data: flow(r * FLOWS + i), repeat: 1 }).duration;
    rounds.push(sum / FLOWS);
  }
  return median(rounds);
}

/** ns per packet of one flow repeated (after its first packet: the established path). */
function established(program: runtime.Program): number {
  const data = flow(1 << 20);
  program.testRun({ data, repeat: 1 });
  return median(Array.from({ length: ROUNDS }, () => program.testRun({ data, repeat: REPEAT }).duration));
}

export function loadbalancerBench(): Figure[] {
  const config = parseConfig(parseYaml(`listenInterface: eth0\nvip: ${VIP}\ntcp_port: 80\nbackends: [02:00:00:00:00:0b, 02:00:00:00:00:0c, 02:00:00:00:00:0d]\n`, "bench"), "bench");
  using floor = runtime.Program.load({ name: "xdp_tx", type: ProgramType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, 3), asm.exit()]), license: "GPL" });
  using c = loadCollection(config, MAC);
  const lb = c.program(PROGRAM_NAME);
  const ours = { fresh: newFlows(lb), known: established(lb) };
  const floorNs = { fresh: newFlows(floor), known: established(floor) };
  return [
    { id: "7n", figure: "loadbalancer ns/packet, new flows (10k)", tsebpf: ours.fresh.toFixed(1), peer: `${floorNs.fresh.toFixed(1)} (XDP_TX)`, ratio: ours.fresh / floorNs.fresh, target: "<= 4x", pass: ours.fresh / floorNs.fresh <= 4 },
    { id: "7e", figure: "loadbalancer ns/packet, established flow", tsebpf: ours.known.toFixed(1), peer: `${floorNs.known.toFixed(1)} (XDP_TX)`, ratio: ours.known / floorNs.known, target: "<= 4x", pass: ours.known / floorNs.known <= 4 },
  ];
}
