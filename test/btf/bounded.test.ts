/**
 * Walks over types that the input decides the depth of: loops (typedef -> typedef, const ->
 * volatile -> const, a struct holding itself by value, an array of itself, a function type taking
 * a pointer to itself) and chains far deeper than any real BTF. Every query (skipModifiers,
 * sizeOf, alignOf, describeType), the C dump and CO-RE resolution either answers or throws a
 * BtfError (a CoreError whose cause is one, for CO-RE) naming the type — never a stack overflow,
 * never a hang, never C that silently says `void`.
 */
import { describe, expect, it } from "vitest";
import { CoreError, resolveCoreRelocation } from "../../src/btf/core/index.js";
import { dumpC } from "../../src/btf/dump-c.js";
import {
  Btf,
  BtfError,
  CoreReloKind,
  MAX_TYPE_DEPTH,
  alignOf,
  describeType,
  marshalBtf,
  sizeOf,
  skipModifiers,
  skipQualifiers,
  type BtfType,
} from "../../src/btf/index.js";

const int: BtfType = { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 };
const btfOf = (types: BtfType[]) => new Btf(marshalBtf(types));
const struct = (name: string, members: [string, number][], size = 4): BtfType => ({
  kind: "struct", name, size, bitfields: false,
  members: members.map(([n, type], i) => ({ name: n, type, bitOffset: i * 32, bitSize: 0 })),
});

/** Runs `f` and returns the BtfError it throws (fails on anything else, or on no error). */
function btfError(f: () => unknown): BtfError {
  try {
    f();
  } catch (e) {
    if (e instanceof BtfError) return e;
    throw e;
  }
  throw new Error("expected a BtfError");
}

/** CO-RE: a CoreError, caused by a BtfError; both returned. */
function coreError(f: () => unknown): { core: CoreError; btf: BtfError } {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CoreError)) throw e;
    expect(e.cause).toBeInstanceOf(BtfError);
    return { core: e, btf: e.cause as BtfError };
  }
  throw new Error("expected a CoreError");
}

/**
 * Local BTF: `struct probe { <member of type 3 + offset> x; }` around the types under test (ids
 * from 3), so that a field relocation of `probe::x` walks them. Target: a clean `struct probe`.
 */
function coreAgainst(types: BtfType[], memberType: number) {
  const local = btfOf([int, struct("probe", [["x", memberType]]), ...types]);
  const clean = btfOf([int, struct("probe", [["x", 1]])]);
  const relo = (kind: CoreReloKind) => ({ insnOff: 0, typeId: 2, accessStr: "0:0", kind });
  return {
    /** The broken types are the local's. */
    local: (kind: CoreReloKind) => resolveCoreRelocation(local, relo(kind), clean),
    /** The broken types are the target's (the clean one is local). */
    target: (kind: CoreReloKind) => resolveCoreRelocation(clean, relo(kind), local),
  };
}

describe("loops in BTF", () => {
  // ids 3, 4: typedef a -> typedef b -> typedef a
  const typedefLoop: BtfType[] = [
    { kind: "typedef", name: "a", type: 4 },
    { kind: "typedef", name: "b", type: 3 },
  ];
  // ids 3, 4: const -> volatile -> const
  const qualifierLoop: BtfType[] = [
    { kind: "const", name: "", type: 4 },
    { kind: "volatile", name: "", type: 3 },
  ];

  it("a typedef loop: skipModifiers, sizeOf and alignOf name it", () => {
    const btf = btfOf([int, int, ...typedefLoop]);
    for (const f of [skipModifiers, sizeOf, alignOf]) {
      const e = btfError(() => f(btf, 3));
      expect(e.message).toMatch(/^type 3: /);
      expect(e.message).toContain("[3] typedef a -> [4] typedef b -> [3] typedef a");
    }
    expect(describeType(btf, 3)).toBe("a");
  });

  it("a qualifier loop: skipQualifiers, skipModifiers, sizeOf and alignOf name it", () => {
    const btf = btfOf([int, int, ...qualifierLoop]);
    for (const f of [skipQualifiers, skipModifiers, sizeOf, alignOf]) {
      const e = btfError(() => f(btf, 4));
      expect(e.message).toMatch(/^type 4: /);
      expect(e.message).toContain("[4] volatile (anon) -> [3] const (anon) -> [4] volatile (anon)");
    }
    // A description stops (a message must never fail).
    expect(describeType(btf, 3)).toMatch(/^const volatile const .*\.\.\.$/);
  });

  it("an array of itself: sizeOf and alignOf name it", () => {
    const btf = btfOf([int, int, { kind: "array", name: "", type: 3, indexType: 1, nelems: 2 }]);
    expect(btfError(() => sizeOf(btf, 3)).message).toContain("type 3: ");
    expect(btfError(() => alignOf(btf, 3)).message).toContain("[3] array (anon) -> [3] array (anon)");
  });

  it("a struct holding itself by value (directly, through a typedef, through an array): alignOf names it", () => {
    const direct = btfOf([int, int, struct("s", [["self", 3]])]);
    expect(btfError(() => alignOf(direct, 3)).message).toBe("type 3: holds itself by value: [3] struct s -> [3] struct s");
    const viaTypedef = btfOf([int, int, struct("s", [["i", 1], ["self", 4]], 8), { kind: "typedef", name: "s_t", type: 3 }]);
    expect(btfError(() => alignOf(viaTypedef, 4)).message).toContain("[4] typedef s_t -> [3] struct s -> [4] typedef s_t");
    const viaArray = btfOf([int, int, struct("s", [["arr", 4]]), { kind: "array", name: "", type: 3, indexType: 1, nelems: 1 }]);
    expect(btfError(() => alignOf(viaArray, 3)).message).toContain("[3] struct s -> [4] array (anon) -> [3] struct s");
    // Through a pointer it is an ordinary list.
    const list = btfOf([int, int, struct("node", [["next", 4]], 8), { kind: "ptr", name: "", type: 3 }]);
    expect(alignOf(list, 3)).toBe(8);
    expect(dumpC(list)).toContain("struct node {\n\tstruct node *next;\n};");
  });

  it("the C dump refuses each loop with a BtfError naming the type (whole blob and one type)", () => {
    const cases: [string, BtfType[], RegExp][] = [
      ["typedef loop", typedefLoop, /type [34]: .*typedef a/],
      ["qualifier loop", [...qualifierLoop, struct("user", [["q", 3]])], /type [345]: .*\[3\] const \(anon\)/],
      ["array of itself", [{ kind: "array", name: "", type: 3, indexType: 1, nelems: 2 }, struct("user", [["a", 3]])], /type [34]: .*\[3\] array/],
      ["struct holding itself", [struct("s", [["self", 3]])], /type 3: record holds itself by value .*\[3\] struct s -> \[3\] struct s/],
      [
        "struct holding itself through a typedef",
        [struct("s", [["self", 4]]), { kind: "typedef", name: "s_t", type: 3 }],
        /type [34]: .*holds itself by value.*\[3\] struct s/,
      ],
      [
        "struct holding an array of itself",
        [struct("s", [["arr", 4]]), { kind: "array", name: "", type: 3, indexType: 1, nelems: 1 }],
        /type 3: record holds itself by value .*\[3\] struct s -> \[3\] struct s/,
      ],
      [
        "anonymous struct pointing at itself",
        [struct("", [["self", 4]], 8), { kind: "ptr", name: "", type: 3 }, struct("user", [["anon", 3]], 8)],
        /type 3: anonymous record refers to itself/,
      ],
      [
        "typedef of a pointer to itself",
        [{ kind: "typedef", name: "t", type: 4 }, { kind: "ptr", name: "", type: 3 }],
        /type 3: typedef needs itself .*\[3\] typedef t/,
      ],
      [
        "function type taking a pointer to itself",
        [{ kind: "func_proto", name: "", returnType: 0, params: [{ name: "f", type: 4 }] }, { kind: "ptr", name: "", type: 3 }, { kind: "typedef", name: "fn", type: 4 }],
        /type 3: function type refers to itself/,
      ],
    ];
    for (const [what, types, message] of cases) {
      const btf = btfOf([int, int, ...types]);
      expect(btfError(() => dumpC(btf)).message, what).toMatch(message);
      for (let id = 3; id <= btf.typeCount; id++) {
        try {
          dumpC(btf, { types: [id] });
        } catch (e) {
          expect(e, `${what}, type ${id}`).toBeInstanceOf(BtfError);
          expect((e as BtfError).message, `${what}, type ${id}`).toMatch(/^type \d+: /);
        }
      }
    }
  });

  it("a datasec holding itself: printing it as a root is refused (a whole dump prints no datasec)", () => {
    const btf = btfOf([int, int, { kind: "datasec", name: ".data", size: 4, vars: [{ type: 3, offset: 0, size: 4 }] }]);
    expect(btfError(() => dumpC(btf, { types: [3] })).message).toBe("type 3: variable 0 of datasec .data is datasec [3] datasec .data");
    expect(dumpC(btf)).not.toContain("data");
  });

  it("the error is one line (the CLI prints it as one), even when the names in it are not", () => {
    const btf = btfOf([int, int, { kind: "typedef", name: "a\nb\u001b[2J", type: 4 }, { kind: "typedef", name: "b", type: 3 }]);
    const e = btfError(() => dumpC(btf));
    expect(e.message).toBe("type 3: typedef holds itself by value (C cannot print that): [3] typedef a\\x0ab\\x1b[2J -> [4] typedef b -> [3] typedef a\\x0ab\\x1b[2J");
    expect(e.reason).toBe(e.message);
    const c = coreAgainst([{ kind: "typedef", name: "x\ny", type: 4 }, { kind: "typedef", name: "y", type: 3 }], 3);
    expect(coreError(() => c.local(CoreReloKind.FIELD_BYTE_SIZE)).core.message).not.toMatch(/[\n\u001b]/);
  });

  it("CO-RE: a loop in the local or the target BTF is a CoreError caused by a BtfError naming the type", () => {
    for (const [types, first] of [
      [typedefLoop, 3],
      [qualifierLoop, 3],
    ] as const) {
      const c = coreAgainst([...types], first);
      for (const side of [c.local, c.target]) {
        for (const kind of [CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_BYTE_SIZE]) {
          const { core, btf } = coreError(() => side(kind));
          expect(btf.message).toMatch(/^type [34]: /);
          expect(core.message).toContain(btf.message);
        }
      }
    }
    // A target whose anonymous member holds its own struct: the member search stops.
    const local = btfOf([int, struct("probe", [["x", 1]])]);
    const target = btfOf([int, { kind: "struct", name: "probe", size: 8, bitfields: false, members: [{ name: "", type: 3, bitOffset: 0, bitSize: 0 }] }, struct("", [["", 3], ["y", 1]], 8)]);
    const { btf } = coreError(() => resolveCoreRelocation(local, { insnOff: 0, typeId: 2, accessStr: "0:0", kind: CoreReloKind.FIELD_BYTE_OFFSET }, target));
    expect(btf.message).toContain("type 3: holds itself by value: [3] struct (anon) -> [3] struct (anon)");
  });

  it("CO-RE: function prototypes that refer to themselves are compared in bounded time", () => {
    // proto(p, p, p, p) where p points back at the proto: exponential without a bound.
    const selfish = (name: string): BtfType[] => [
      int,
      { kind: "typedef", name, type: 3 },
      { kind: "ptr", name: "", type: 4 },
      { kind: "func_proto", name: "", returnType: 1, params: [0, 1, 2, 3].map((i) => ({ name: `p${i}`, type: 3 })) },
    ];
    const local = btfOf(selfish("cb"));
    const target = btfOf(selfish("cb"));
    // A walk gone exponential never ends: the test's own timeout is the hang detector (no timing here).
    for (const kind of [CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES, CoreReloKind.TYPE_SIZE]) {
      try {
        resolveCoreRelocation(local, { insnOff: 0, typeId: 2, accessStr: "0", kind }, target);
      } catch (e) {
        expect(e).toBeInstanceOf(CoreError);
      }
    }
    // Descriptions of them stay short.
    expect(describeType(local, 3).length).toBeLessThan(2000);
  });
});

describe("chains deeper than MAX_TYPE_DEPTH", () => {
  const N = 100_000;
  /** [1] int, [2] typedef t2 -> 1, ... [N+1] typedef -> N: each typedef names the one before it. */
  const downward = btfOf([int, ...Array.from({ length: N }, (_, i): BtfType => ({ kind: "typedef", name: `t${i + 2}`, type: i + 1 }))]);
  /** [1] typedef -> 2, ... [N] typedef -> N+1, [N+1] int: each names the one after it. */
  const upward = btfOf([...Array.from({ length: N }, (_, i): BtfType => ({ kind: "typedef", name: `t${i + 1}`, type: i + 2 })), int]);
  const top = N + 1;

  it("skipModifiers, sizeOf and alignOf refuse with the id and the bound", () => {
    for (const f of [skipModifiers, sizeOf, alignOf]) {
      const e = btfError(() => f(downward, top));
      expect(e.message).toMatch(new RegExp(`^type ${top}: .*${MAX_TYPE_DEPTH}`));
      expect(btfError(() => f(upward, 1)).message).toMatch(new RegExp(`^type 1: .*${MAX_TYPE_DEPTH}`));
    }
    // ...while a chain within the bound works.
    expect(sizeOf(downward, MAX_TYPE_DEPTH)).toBe(4);
    expect(alignOf(downward, MAX_TYPE_DEPTH - 1)).toBe(4);
    expect(skipModifiers(upward, N + 2 - MAX_TYPE_DEPTH)).toBe(N + 1);
  });

  it("the C dump refuses with the id and the bound, never prints void", () => {
    const e = btfError(() => dumpC(upward));
    expect(e.message).toMatch(/^type \d+: types nest deeper than 256 levels \(from \[1\] typedef t1\)/);
    expect(btfError(() => dumpC(downward, { types: [top] })).message).toMatch(/^type \d+: types nest deeper than 256 levels/);
    // A whole blob whose typedefs each follow the one they name prints, in order: it is valid C.
    const header = dumpC(downward);
    expect(header).toContain("typedef int t2;\n\ntypedef t2 t3;\n\n");
    expect(header).toContain(`typedef t${N} t${N + 1};`);
  });

  it("pointer and array chains past the bound are refused, not printed as void", () => {
    const pointers = btfOf([int, ...Array.from({ length: 1000 }, (_, i): BtfType => ({ kind: "ptr", name: "", type: i + 1 })), struct("s", [["p", 1001]], 8)]);
    expect(btfError(() => dumpC(pointers)).message).toMatch(/^type 1001: pointer\/array\/qualifier chain is longer than 256 types/);
    const arrays = btfOf([int, ...Array.from({ length: 1000 }, (_, i): BtfType => ({ kind: "array", name: "", type: i + 1, indexType: 1, nelems: 1 })), struct("s", [["a", 1001]])]);
    expect(btfError(() => dumpC(arrays)).message).toMatch(/^type 1001: .* longer than 256 types/);
    expect(btfError(() => sizeOf(arrays, 1001)).message).toMatch(/^type 1001: type chain is longer than 256 types/);
  });

  it("structs nested by value past the bound are refused by alignOf and the C dump", () => {
    const nest = btfOf([int, ...Array.from({ length: 1000 }, (_, i) => struct(`s${i + 2}`, [["m", i + 1]]))]);
    expect(btfError(() => alignOf(nest, 1001)).message).toMatch(/^type 1001: types nest deeper than 256 levels/);
    expect(btfError(() => dumpC(nest, { types: [1001] })).message).toMatch(/^type \d+: .*256 levels/);
    expect(alignOf(nest, 200)).toBe(4);
  });

  it("CO-RE: a member type at the end of a long chain is a CoreError caused by a BtfError naming it", () => {
    const chain = Array.from({ length: 5000 }, (_, i): BtfType => ({ kind: "typedef", name: `t${i}`, type: i + 4 }));
    // ids 3..5002 typedefs, each to the next; 5003 int.
    const c = coreAgainst([...chain, int], 3);
    for (const side of [c.local, c.target]) {
      const { btf } = coreError(() => side(CoreReloKind.FIELD_BYTE_SIZE));
      expect(btf.message).toMatch(/^type 3: .* longer than 256 types/);
    }
  });

  it("anonymous records and function types that reuse their parts (exponential C) are refused, not printed for hours", () => {
    // [2] anon { int a, b }, [k+1] anon { [k] a, b } ... [41], [42] struct top { [41] x }
    const records = btfOf([
      int,
      ...Array.from({ length: 40 }, (_, i) => struct("", [["a", i + 1], ["b", i + 1]], 8)),
      struct("top", [["x", 41]], 8),
    ]);
    expect(btfError(() => dumpC(records)).message).toMatch(/^type \d+: printing \[\d+\] struct \(anon\) inline where it is used takes more than 250000 members/);
    // [2k] proto([2k-1] ptr, same), [2k+1] ptr -> [2k] ... typedef fn -> the last pointer
    const protos: BtfType[] = [int, { kind: "ptr", name: "", type: 1 }];
    for (let k = 0; k < 40; k++) {
      const below = protos.length;
      protos.push({ kind: "func_proto", name: "", returnType: 1, params: [{ name: "a", type: below }, { name: "b", type: below }] });
      protos.push({ kind: "ptr", name: "", type: protos.length });
    }
    protos.push({ kind: "typedef", name: "fn", type: protos.length });
    expect(btfError(() => dumpC(btfOf(protos))).message).toMatch(/^type \d+: printing \[\d+\] func_proto \(anon\) inline/);
    // A few levels print.
    expect(dumpC(btfOf([int, ...Array.from({ length: 4 }, (_, i) => struct("", [["a", i + 1], ["b", i + 1]], 8)), struct("top", [["x", 5]], 8)]))).toContain("struct top {");
  });

  it("a record with gigabytes of padding is refused, not printed line by line", () => {
    const huge = btfOf([int, { kind: "struct", name: "huge", size: 0xfffffff0, bitfields: false, members: [{ name: "x", type: 1, bitOffset: 0, bitSize: 0 }] }]);
    expect(btfError(() => dumpC(huge)).message).toMatch(/^type 2: \[2\] struct huge has a gap of \d+ bits/);
  });

  it("CO-RE: a target with 200k candidates of the same name resolves (no spread into a call)", () => {
    const many = 200_000;
    const target = btfOf([int, ...Array.from({ length: many }, () => struct("probe", [["y", 1]]))]);
    const local = btfOf([int, struct("probe", [["x", 1]])]);
    const res = resolveCoreRelocation(local, { insnOff: 0, typeId: 2, accessStr: "0:0", kind: CoreReloKind.FIELD_EXISTS }, target);
    expect(res.target).toBe(0);
  });
});

describe("CO-RE on members that do not start on a byte", () => {
  it("an array element inside a non-bitfield member at an odd bit offset: CoreError, not a RangeError (found by the fuzz property)", () => {
    // [1] int, [2] int[2], [3] struct s { int a[2] at bit 370953 } (kind_flag off: not a bitfield)
    const btf = btfOf([
      int,
      { kind: "array", name: "", type: 1, indexType: 1, nelems: 2 },
      { kind: "struct", name: "s", size: 100_000, bitfields: false, members: [{ name: "a", type: 2, bitOffset: 370_953, bitSize: 0 }] },
    ]);
    for (const accessStr of ["0:0:1", "0:0"]) {
      expect(() => resolveCoreRelocation(btf, { insnOff: 0, typeId: 3, accessStr, kind: CoreReloKind.FIELD_BYTE_OFFSET }, btf), accessStr).toThrow(CoreError);
    }
  });
});
