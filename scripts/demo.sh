#!/usr/bin/env bash
# make demo: packetfilter on a throwaway topology. Two network namespaces joined by a veth pair:
# "client" (10.66.0.1 and 10.66.0.3, fd66::1) sends UDP to "server" (10.66.0.2, fd66::2), where
# tsebpf's XDP filter runs. The demo shows the live counters, per-rule hits, a rule change applied
# without restarting, and removes everything at the end (also on Ctrl+C or failure).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "make demo loads an XDP program and creates network namespaces: run it as root (sudo make demo)" >&2
  exit 1
fi

tag="tsebpf-demo-$$"
client="${tag}-c"
server="${tag}-s"
work=$(mktemp -d)
filter_pid=""
cleanup() {
  [ -n "$filter_pid" ] && kill -INT "$filter_pid" 2>/dev/null && wait "$filter_pid" 2>/dev/null || true
  ip netns del "$client" 2>/dev/null || true
  ip netns del "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns=$1; shift; nsenter --net="/var/run/netns/$ns" -- "$@"; }
tsebpf() { node dist/cli/main.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. a throwaway topology: namespaces $client and $server, one veth pair"
ip netns add "$client"
ip netns add "$server"
ip link add veth-c netns "$client" type veth peer name veth-s netns "$server"
in_ns "$client" ip addr add 10.66.0.1/24 dev veth-c
in_ns "$client" ip addr add 10.66.0.3/24 dev veth-c
in_ns "$server" ip addr add 10.66.0.2/24 dev veth-s
in_ns "$client" ip addr add fd66::1/64 dev veth-c nodad
in_ns "$server" ip addr add fd66::2/64 dev veth-s nodad
for ns in "$client" "$server"; do in_ns "$ns" ip link set lo up; done
in_ns "$client" ip link set veth-c up
in_ns "$server" ip link set veth-s up
echo "client: 10.66.0.1, 10.66.0.3, fd66::1    server: 10.66.0.2, fd66::2 (veth-s)"

cat > "$work/filter.yml" <<'YAML'
rules:
  interface: veth-s
  ipv4:
    default: allow
    block: [10.66.0.3, 192.0.2.0/24]
  ipv6:
    default: block
    allow: ["fd66::1"]
YAML
step "2. the configuration (tsebpf packetfilter check)"
cat "$work/filter.yml"
tsebpf packetfilter check -c "$work/filter.yml"

step "3. tsebpf packetfilter on veth-s, in the background (counters every 2 seconds)"
nsenter --net="/var/run/netns/$server" -- node dist/cli/main.js packetfilter -c "$work/filter.yml" --interval 2 > >(sed -u 's/^/   [packetfilter] /') 2>&1 &
filter_pid=$!
for _ in $(seq 100); do
  in_ns "$server" node dist/cli/main.js packetfilter status -i veth-s >/dev/null 2>&1 && break
  sleep 0.1
done

# Sends 20 datagrams from each source and prints how many the server received from each.
traffic() {
  in_ns "$server" node -e '
    const dgram = require("node:dgram");
    const got = new Map();
    const socks = ["udp4", "udp6"].map((t) => dgram.createSocket(t).on("message", (m, r) => got.set(r.address, (got.get(r.address) ?? 0) + 1)));
    socks[0].bind(7000, "10.66.0.2");
    socks[1].bind(7000, "fd66::2", () => process.stdout.write("ready\n"));
    setTimeout(() => {
      for (const src of ["10.66.0.1", "10.66.0.3", "fd66::1"]) console.log(`   ${src.padEnd(10)} -> server: ${got.get(src) ?? 0} of 20 received`);
      process.exit(0);
    }, 1500);
  ' | {
    read -r _ready
    in_ns "$client" node -e '
      const dgram = require("node:dgram");
      for (const [src, dst, type] of [["10.66.0.1", "10.66.0.2", "udp4"], ["10.66.0.3", "10.66.0.2", "udp4"], ["fd66::1", "fd66::2", "udp6"]]) {
        const s = dgram.createSocket(type);
        s.bind(0, src, () => { let n = 0; const t = setInterval(() => { s.send("hello", 7000, dst); if (++n === 20) { clearInterval(t); setTimeout(() => s.close(), 100); } }, 20); });
      }'
    cat
  }
}

step "4. traffic: 10.66.0.1 is allowed, 10.66.0.3 is blocked, fd66::1 is allowed (IPv6 default: block)"
traffic
sleep 1.2

step "5. per-rule hits (tsebpf packetfilter status --rules)"
in_ns "$server" node dist/cli/main.js packetfilter status -i veth-s --rules

step "6. unblock 10.66.0.3: edit the file; the filter applies it at once, no restart, no gap"
sed -i 's/block: \[10.66.0.3, 192.0.2.0\/24\]/block: [192.0.2.0\/24]/' "$work/filter.yml"
sleep 1
traffic
sleep 1.2

step "7. Ctrl+C (SIGINT): the filter detaches"
kill -INT "$filter_pid"
wait "$filter_pid" || true
filter_pid=""
sleep 0.2
in_ns "$server" ip -d link show veth-s | grep -q "prog/xdp" && { echo "still attached?" >&2; exit 1; }
echo "   veth-s has no XDP program any more"

step "8. teardown: namespaces removed"
