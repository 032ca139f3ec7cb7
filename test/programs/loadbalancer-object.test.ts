/**
 * The committed loadbalancer object and the TypeScript that reads and writes its maps agree on
 * the layouts they share.
 */
import { describe, expect, it } from "vitest";
import { MAGLEV_SLOT_SIZE } from "../../src/programs/loadbalancer/slots.js";
import { programObject } from "../helpers/struct-layout.js";

const { spec, layout } = programObject("loadbalancer");

describe("loadbalancer object", () => {
  it("struct maglev_slot is what slots.ts encodes", () => {
    expect(layout("maglev_slot")).toEqual({ kind: "struct", size: MAGLEV_SLOT_SIZE, members: [["id", 0], ["prev", 2], ["prev_generation", 4], ["prev_until", 8]] });
    expect(spec.maps.get("maglev")).toMatchObject({ keySize: 4, valueSize: MAGLEV_SLOT_SIZE });
  });

  it("struct flow_event is what decodeFlowSample reads; lb_stats ends with samples_lost", () => {
    expect(layout("flow_event")).toEqual({ kind: "struct", size: 32, members: [["ns", 0], ["backend", 8], ["sport", 12], ["family", 14], ["reserved", 15], ["src", 16]] });
    expect(layout("lb_stats").members.map(([name]) => name)).toEqual(["service_packets", "forwarded", "unbalanceable", "no_backend", "samples_lost"]);
    expect(spec.maps.get("flows")).toMatchObject({ typeName: "RINGBUF" });
  });
});
