/**
 * #7 loadbalancer data path: ns per packet through BPF_PROG_TEST_RUN against a trivial XDP_TX
 * program on the same frames, for new flows and for an established flow.
 *
 * New flows: a tiny XDP program bumps the TCP source port of the frame and tail-calls the program
 * measured, so each of a run's 50,000 repeats is a flow never seen before (a Maglev pick and a
 * connection-table insert), with warm caches as in a steady stream. The floor gets the same front
 * program. Established: one flow repeated.
 */
import { asm, runtime } from "../src/index.js";
import { AttachType, MapType, ProgramType } from "../src/abi/index.js";
import { parseYaml } from "../src/programs/common/config.js";
import { parseConfig } from "../src/programs/loadbalancer/config.js";
import { PROGRAM_NAME, loadCollection } from "../src/programs/loadbalancer/index.js";
import { frame } from "../test/helpers/packets.js";
import { median, type Figure } from "./lib.js";

const FLOWS = 10_000;
/** New flows per hot round: fewer than the 65,536 source ports, so none repeats within a round. */
const HOT_FLOWS = 50_000;
const REPEAT = 200_000;
const ROUNDS = 7;
const VIP = "10.0.0.100";
const MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);

/** A front program: source port += 1 (TCP, no VLAN), then a tail call into `programs[0]`. */
function frontProgram(programs: runtime.BpfMap): runtime.Program {
  const { R0, R1, R2, R3, R4, R5 } = asm;
  const insns = new asm.Builder()
    .add(asm.ldx("w", R2, R1, 0))
    .add(asm.ldx("w", R3, R1, 4))
    .add(asm.mov64Reg(R4, R2))
    .add(asm.add64Imm(R4, 38))
    .add(asm.jgtReg(R4, R3, "out"))
    .add(asm.ldx("h", R5, R2, 34))
    .add(asm.add64Imm(R5, 1))
    .add(asm.stx("h", R2, 34, R5))
    .add(asm.loadMapFd(R2, programs.fd))
    .add(asm.mov64Imm(R3, 0))
    .add(asm.call("bpf_tail_call"))
    .label("out")
    .add(asm.mov64Imm(R0, 2))
    .add(asm.exit())
    .build();
  // A prog array takes only programs like the first one (type and expected attach type included).
  return runtime.Program.load({ name: "front", type: ProgramType.XDP, expectedAttachType: AttachType.XDP, instructions: asm.encode(insns), license: "GPL" });
}

/** ns per packet of `program` behind the front program, each repeat a new flow; median of rounds. */
function newFlowsHot(program: runtime.Program, round: (r: number) => void): number {
  using programs = runtime.BpfMap.create({ name: "front_jump", type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  using front = frontProgram(programs);
  const key = Buffer.alloc(4);
  const value = Buffer.alloc(4);
  value.writeUInt32LE(program.fd);
  programs.update(key, value);
  return median(
    Array.from({ length: ROUNDS }, (_, r) => {
      round(r);
      return front.testRun({ data: flow(r + 1), repeat: HOT_FLOWS }).duration;
    }),
  );
}

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
  using floor = runtime.Program.load({ name: "xdp_tx", type: ProgramType.XDP, expectedAttachType: AttachType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, 3), asm.exit()]), license: "GPL" });
  using c = loadCollection(config, MAC);
  const lb = c.program(PROGRAM_NAME);
  // Each round's flows come from another source address (the frame of flow(r + 1)): all new.
  const ours = { hot: newFlowsHot(lb, () => undefined), cold: newFlows(lb), known: established(lb) };
  const floorNs = { hot: newFlowsHot(floor, () => undefined), cold: newFlows(floor), known: established(floor) };
  return [
    { id: "7n", figure: "loadbalancer ns/packet, new flows (50k per run)", tsebpf: ours.hot.toFixed(1), peer: `${floorNs.hot.toFixed(1)} (XDP_TX)`, ratio: ours.hot / floorNs.hot, target: "<= 4x", pass: ours.hot / floorNs.hot <= 4 },
    { id: "7c", figure: "loadbalancer ns/packet, new flows, one cold run each", tsebpf: ours.cold.toFixed(1), peer: `${floorNs.cold.toFixed(1)} (XDP_TX)`, ratio: ours.cold / floorNs.cold, target: "(reference)", pass: undefined },
    { id: "7e", figure: "loadbalancer ns/packet, established flow", tsebpf: ours.known.toFixed(1), peer: `${floorNs.known.toFixed(1)} (XDP_TX)`, ratio: ours.known / floorNs.known, target: "<= 4x", pass: ours.known / floorNs.known <= 4 },
  ];
}
