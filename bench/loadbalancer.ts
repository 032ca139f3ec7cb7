/**
 * #7 loadbalancer data path: ns per packet through BPF_PROG_TEST_RUN against a trivial XDP_TX
 * program on the same frames, for new flows and for an established flow.
 *
 * Both go through a tiny front program (see frontProgram; the floor too): for new flows it bumps
 * the TCP source port of a SYN, so each of a run's 50,000 repeats opens a connection never seen
 * before, with warm caches as in a steady stream; established is one flow's ACK repeated. The
 * figures are for Maglev slots that never changed (no connection-table work, see
 * src/programs/loadbalancer/slots.ts); two reference figures give the same after every slot
 * changed, where each new connection is recorded in the LRU connection table and each
 * established one looked up there.
 */
import { asm, runtime, type Collection } from "../src/index.js";
import { AttachType, MapType, ProgramType } from "../src/abi/index.js";
import { parseYaml } from "../src/programs/common/config.js";
import { parseConfig } from "../src/programs/loadbalancer/config.js";
import { PROGRAM_NAME, loadCollection } from "../src/programs/loadbalancer/index.js";
import { decodeSlots, encodeSlots } from "../src/programs/loadbalancer/slots.js";
import { arrayValues, u32Key } from "../src/programs/common/maps.js";
import { frame } from "../test/helpers/packets.js";
import { median, type Figure } from "./lib.js";

const FLOWS = 10_000;
/** New flows per hot round: fewer than the 65,536 source ports, so none repeats within a round. */
const HOT_FLOWS = 50_000;
const REPEAT = 200_000;
const ROUNDS = 7;
const VIP = "10.0.0.100";
// The interface MAC the frames are sent to (test/helpers/packets.ts: 02:00:00:00:00:0b): frames to another MAC pass.
const MAC = Buffer.of(0x02, 0, 0, 0, 0, 0x0b);

/**
 * A front program run before the one measured: it puts the interface's MAC back as the
 * destination (XDP_TX rewrote it on the previous repeat, and the balancer passes frames for
 * other MACs), with `newFlows` bumps the TCP source port (a new flow every repeat), then
 * tail-calls `programs[0]`.
 */
function frontProgram(programs: runtime.BpfMap, newFlows: boolean): runtime.Program {
  const { R0, R1, R2, R3, R4, R5 } = asm;
  const macHigh = MAC.readUInt32LE(0);
  const macLow = MAC.readUInt16LE(4);
  const b = new asm.Builder()
    .add(asm.ldx("w", R2, R1, 0))
    .add(asm.ldx("w", R3, R1, 4))
    .add(asm.mov64Reg(R4, R2))
    .add(asm.add64Imm(R4, 38))
    .add(asm.jgtReg(R4, R3, "out"))
    .add(asm.st("w", R2, 0, macHigh | 0))
    .add(asm.st("h", R2, 4, macLow));
  if (newFlows) b.add(asm.ldx("h", R5, R2, 34)).add(asm.add64Imm(R5, 1)).add(asm.stx("h", R2, 34, R5));
  const insns = b
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

/** ns per packet of `program` behind the front program (median of rounds); each round its own source address. */
function behindFront(program: runtime.Program, newFlows: boolean): number {
  const data = (r: number) => (newFlows ? flow(r + 1) : flow(r + 1, ACK));
  using programs = runtime.BpfMap.create({ name: "front_jump", type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  using front = frontProgram(programs, newFlows);
  const key = Buffer.alloc(4);
  const value = Buffer.alloc(4);
  value.writeUInt32LE(program.fd);
  programs.update(key, value);
  return median(Array.from({ length: ROUNDS }, (_, r) => front.testRun({ data: data(r), repeat: newFlows ? HOT_FLOWS : REPEAT }).duration));
}

const ACK = 0x10;
/** Flow `i`'s SYN (or, with `flags`, another segment). */
const flow = (i: number, flags?: number) => frame({ src: `192.168.${(i >> 8) & 255}.${i & 255}`, dst: VIP, protocol: "tcp", srcPort: 10_000 + (i >> 16), dstPort: 80, length: 64, ...(flags === undefined ? {} : { tcpFlags: flags }) });

/** Marks every slot of the table in use as changed, its previous backend another valid one. */
function changeEverySlot(c: Collection, size: number): void {
  const slots = decodeSlots(arrayValues(c.map("maglev"), 0, size));
  const generation = (id: number) => c.map("backends").lookup(u32Key(id))?.readUInt32LE(8) ?? 0;
  const keys = Buffer.alloc(4 * size);
  for (let i = 0; i < size; i++) keys.writeUInt32LE(i, 4 * i);
  runtime.updateBatch(c.map("maglev"), keys, encodeSlots(slots.map((s) => ({ id: s.id, prev: (s.id + 1) % 3, prevGeneration: generation((s.id + 1) % 3) }))));
}

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

export function loadbalancerBench(): Figure[] {
  const config = parseConfig(parseYaml(`listenInterface: eth0\nvip: ${VIP}\ntcp_port: 80\nbackends: [02:00:00:00:00:0b, 02:00:00:00:00:0c, 02:00:00:00:00:0d]\n`, "bench"), "bench");
  using floor = runtime.Program.load({ name: "xdp_tx", type: ProgramType.XDP, expectedAttachType: AttachType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, 3), asm.exit()]), license: "GPL" });
  using c = loadCollection(config, MAC);
  const lb = c.program(PROGRAM_NAME);
  const ours = { hot: behindFront(lb, true), cold: newFlows(lb), known: behindFront(lb, false) };
  // The rare case: after a backend change, in the slots it moved.
  changeEverySlot(c, config.tableSize);
  const changed = { hot: behindFront(lb, true), known: behindFront(lb, false) };
  const floorNs = { hot: behindFront(floor, true), cold: newFlows(floor), known: behindFront(floor, false) };
  return [
    { id: "7n", figure: "loadbalancer ns/packet, new flows (50k per run)", tsebpf: ours.hot.toFixed(1), peer: `${floorNs.hot.toFixed(1)} (XDP_TX)`, ratio: ours.hot / floorNs.hot, target: "<= 4x", pass: ours.hot / floorNs.hot <= 4 },
    { id: "7c", figure: "loadbalancer ns/packet, new flows, one cold run each", tsebpf: ours.cold.toFixed(1), peer: `${floorNs.cold.toFixed(1)} (XDP_TX)`, ratio: ours.cold / floorNs.cold, target: "(reference)", pass: undefined },
    { id: "7e", figure: "loadbalancer ns/packet, established flow", tsebpf: ours.known.toFixed(1), peer: `${floorNs.known.toFixed(1)} (XDP_TX)`, ratio: ours.known / floorNs.known, target: "<= 4x", pass: ours.known / floorNs.known <= 4 },
    { id: "7nc", figure: "loadbalancer ns/packet, new flows in changed slots (recorded)", tsebpf: changed.hot.toFixed(1), peer: `${floorNs.hot.toFixed(1)} (XDP_TX)`, ratio: changed.hot / floorNs.hot, target: "(reference)", pass: undefined },
    { id: "7ec", figure: "loadbalancer ns/packet, established flow in a changed slot (looked up)", tsebpf: changed.known.toFixed(1), peer: `${floorNs.known.toFixed(1)} (XDP_TX)`, ratio: changed.known / floorNs.known, target: "(reference)", pass: undefined },
  ];
}
