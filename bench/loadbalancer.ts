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
 *
 * The balancer's and the floor's rounds interleave (the order reversed every other round), on the
 * same frames; a ratio is the median of per-round ratios. As both run behind the same front
 * program, whose cost the ratio shares, each figure also gives the ns above the floor (the median
 * of per-round differences): what the balancer itself adds per packet.
 */
import { asm, runtime, type Collection } from "../src/index.js";
import { AttachType, MapType, ProgramType } from "../src/abi/index.js";
import { parseYaml } from "../src/programs/common/config.js";
import { parseConfig } from "../src/programs/loadbalancer/config.js";
import { PROGRAM_NAME, loadCollection } from "../src/programs/loadbalancer/index.js";
import { decodeSlots, encodeSlots } from "../src/programs/loadbalancer/slots.js";
import { arrayValues, u32Key } from "../src/programs/common/maps.js";
import { frame } from "../test/helpers/packets.js";
import { interleaved, median, roundRatio, type Figure } from "./lib.js";

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

/** `program` behind the front program: one round (ns per packet) per call, each round its own source address. */
function behindFront(program: runtime.Program, newFlows: boolean): { round: () => number; close: () => void } {
  const data = (r: number) => (newFlows ? flow(r + 1) : flow(r + 1, ACK));
  const programs = runtime.BpfMap.create({ name: "front_jump", type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  const front = frontProgram(programs, newFlows);
  const value = Buffer.alloc(4);
  value.writeUInt32LE(program.fd);
  programs.update(Buffer.alloc(4), value);
  let r = 0;
  return {
    round: () => front.testRun({ data: data(r++), repeat: newFlows ? HOT_FLOWS : REPEAT }).duration,
    close: () => {
      front.close();
      programs.close();
    },
  };
}

/** The balancer and the floor behind the same front, rounds interleaved: each side's samples. */
function againstFloor(lb: runtime.Program, floor: runtime.Program, newFlows: boolean): [number[], number[]] {
  const sides = [behindFront(lb, newFlows), behindFront(floor, newFlows)];
  try {
    const [ours = [], floorNs = []] = interleaved(ROUNDS, sides.map((s) => s.round));
    return [ours, floorNs];
  } finally {
    for (const s of sides) s.close();
  }
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

/** One round: mean ns per packet over 10k distinct flows, one run each (the kernel's timing of each run); each round new flows. */
function newFlows(program: runtime.Program): () => number {
  let r = 0;
  return () => {
    let sum = 0;
    for (let i = 0; i < FLOWS; i++) sum += program.testRun({ data: flow(r * FLOWS + i), repeat: 1 }).duration;
    r++;
    return sum / FLOWS;
  };
}

/** A figure against the floor: ns/packet with the ns above the floor beside it. */
function row(id: string, figure: string, ours: number[], floor: number[], target: string, limit: number | undefined): Figure {
  const ratio = roundRatio(ours, floor);
  const above = median(ours.map((x, i) => x - (floor[i] as number)));
  return { id, figure, tsebpf: `${median(ours).toFixed(1)} (+${above.toFixed(1)} above floor)`, peer: `${median(floor).toFixed(1)} (XDP_TX)`, ratio, target, pass: limit === undefined ? undefined : ratio <= limit };
}

export function loadbalancerBench(): Figure[] {
  const config = parseConfig(parseYaml(`listenInterface: eth0\nvip: ${VIP}\ntcp_port: 80\nbackends: [02:00:00:00:00:0b, 02:00:00:00:00:0c, 02:00:00:00:00:0d]\n`, "bench"), "bench");
  using floor = runtime.Program.load({ name: "xdp_tx", type: ProgramType.XDP, expectedAttachType: AttachType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, 3), asm.exit()]), license: "GPL" });
  using c = loadCollection(config, MAC);
  const lb = c.program(PROGRAM_NAME);
  const hot = againstFloor(lb, floor, true);
  const [cold = [], coldFloor = []] = interleaved(3, [newFlows(lb), newFlows(floor)]);
  const known = againstFloor(lb, floor, false);
  // The rare case: after a backend change, in the slots it moved.
  changeEverySlot(c, config.tableSize);
  const changedHot = againstFloor(lb, floor, true);
  const changedKnown = againstFloor(lb, floor, false);
  return [
    row("7n", "loadbalancer ns/packet, new flows (50k per run), behind the front program", ...hot, "<= 4x", 4),
    row("7c", "loadbalancer ns/packet, new flows, one cold run each", cold, coldFloor, "(reference)", undefined),
    row("7e", "loadbalancer ns/packet, established flow, behind the front program", ...known, "<= 4x", 4),
    row("7nc", "loadbalancer ns/packet, new flows in changed slots (recorded)", ...changedHot, "(reference)", undefined),
    row("7ec", "loadbalancer ns/packet, established flow in a changed slot (looked up)", ...changedKnown, "(reference)", undefined),
  ];
}
