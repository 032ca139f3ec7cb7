#!/usr/bin/env bash
# A short tour of tsebpf as far as it goes today: the bytecode layer. (The packet-filter demo on
# its own network-namespace topology replaces this once the XDP programs land.)
set -euo pipefail
cd "$(dirname "$0")/.."
tsebpf() { node dist/cli/main.js "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/xdp_drop_udp.s" <<'ASM'
# XDP: drop IPv4 UDP packets, pass everything else
    r2 = *(u32 *)(r1 + 4)        # data_end
    r1 = *(u32 *)(r1 + 0)        # data
    r0 = 2                       # XDP_PASS
    r3 = r1
    r3 += 34                     # Ethernet + IPv4 header
    if r3 > r2 goto out
    r4 = *(u16 *)(r1 + 12)       # EtherType
    if r4 != 0x8 goto out        # 0x0800, big endian
    r4 = *(u8 *)(r1 + 23)        # IPv4 protocol
    if r4 != 17 goto out
    r0 = 1                       # XDP_DROP
out:
    exit
ASM

echo "== 1. assemble LLVM-syntax text (tsebpf asm)"
tsebpf asm "$work/xdp_drop_udp.s"
tsebpf asm "$work/xdp_drop_udp.s" -o "$work/prog.bin"

echo
echo "== 2. disassemble the bytes again (tsebpf disasm), as llvm-objdump -d prints them"
tsebpf disasm "$work/prog.bin"

if command -v llvm-mc-19 >/dev/null; then
  echo
  echo "== 3. cross-check with LLVM 19: llvm-mc assembles the same text to the same bytes"
  ours=$(tsebpf asm "$work/xdp_drop_udp.s" --hex | tr -d ' \n')
  llvm-mc-19 -triple=bpfel -filetype=obj "$work/xdp_drop_udp.s" -o "$work/llvm.o"
  llvm-objcopy-19 -O binary --only-section=.text "$work/llvm.o" "$work/llvm.bin"
  theirs=$(od -An -v -tx1 "$work/llvm.bin" | tr -d ' \n')
  if [ "$ours" = "$theirs" ]; then echo "identical: $(( ${#ours} / 2 )) bytes"; else echo "DIFFERENT"; exit 1; fi
fi

echo
echo "== 4. big-endian (bpfeb) encoding of the same program"
tsebpf asm "$work/xdp_drop_udp.s" --hex --order big | head -3

echo
echo "== 5. the helper table, generated from this kernel's BTF"
tsebpf helpers | head -5
echo "   ... $(tsebpf helpers | wc -l) helpers"
