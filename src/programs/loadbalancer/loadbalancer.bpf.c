// SPDX-License-Identifier: GPL-2.0
/*
 * tsebpf loadbalancer: an XDP layer-4 load balancer with direct server return.
 *
 * Packets to the service (VIP, protocol, destination port) are re-addressed at layer 2 to a
 * backend and sent back out of the interface they came in on (XDP_TX). The backends hold the
 * VIP on loopback and answer the client directly. Flows pick a backend from a Maglev table that
 * user space fills, and keep it: while a flow's Maglev slot names the backend it has always
 * named, the slot itself keeps the flow there; once a backend change gives the slot to another
 * backend, an LRU connection table records each of the slot's flows (see pick_backend).
 * Everything else passes to the kernel untouched.
 *
 * Backends have stable ids (their index in `backends`) and a generation: user space adds and
 * removes backends while the program runs. The Maglev table has two halves; user space writes
 * the idle one and then flips `control.active`, so a packet sees the old table or the new one,
 * never a mix. A connection-table entry, or a slot's previous backend, counts only while its
 * backend is valid and of the same generation; flows of a removed backend are new flows again.
 *
 * The flow hash (flow_hash) and the slot it picks (a multiply-shift of the hash into the table
 * size) are computed the same way in user space (maglev.ts: flowHash, flowSlot).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IP_MF_OFFSET 0x3FFF
#define MAX_BACKENDS 256
#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define MAX_VLAN_TAGS 2

/* The service, set by user space before load (read-only: the verifier sees constants). */
/* Network byte order, as in the packet. */
volatile const __be32 vip4;
volatile const __be32 vip6[4];
volatile const __u8 has_vip4;
volatile const __u8 has_vip6;
/* Network byte order. */
volatile const __u16 service_port;
volatile const __u8 service_protocol = IPPROTO_TCP_;
/* The balancer's interface MAC: the source of every frame it sends. */
volatile const __u8 if_mac[6];
volatile const __u32 maglev_size = 251;

struct flow_key {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
	__u8 protocol;
	__u8 family;
	__u8 pad[2];
};

struct backend {
	__u8 mac[6];
	/* 1: in the configuration; 0: a free id (or a removed backend). */
	__u8 valid;
	__u8 pad;
	/* Changes whenever the id is given to a backend: a conntrack entry of an earlier holder misses. */
	__u32 generation;
};

/* A connection-table entry: the backend id and the generation it had when the flow began. */
struct flow_backend {
	__u32 id;
	__u32 generation;
};

struct lb_control {
	/* Which half of the Maglev table new flows use (0 or 1). */
	__u32 active;
};

struct backend_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};

struct lb_stats {
	/* Packets to the service. */
	__u64 service_packets;
	/* Service packets forwarded (XDP_TX). */
	__u64 forwarded;
	/*
	 * Packets of the service protocol to the VIP without ports to balance on (IPv4 fragments, IPv6
	 * fragments and extension headers the program does not walk), passed.
	 */
	__u64 unbalanceable;
	/* Dropped: the Maglev slot named no valid backend. */
	__u64 no_backend;
	/* New-flow samples the ring buffer had no room for. */
	__u64 samples_lost;
};

/* One new flow in this many is reported to `flows` (0: none). Set before load. */
volatile const __u32 sample_flows = 0;

/* A sampled new flow and the backend it got. */
struct flow_event {
	__u64 ns; /* bpf_ktime_get_ns() */
	__u32 backend; /* id */
	__u16 sport; /* network order */
	__u8 family; /* 4 or 6 */
	__u8 reserved;
	__u32 src[4]; /* IPv4: the first word */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} flows SEC(".maps");

/* Names struct flow_event in the object's BTF, for user space and its layout tests (never read). */
struct flow_event *const flow_event_type __attribute__((unused)) = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

/*
 * A Maglev slot: the backend new flows get, and whether the slot ever named another one. A clean
 * slot (prev == SLOT_CLEAN) has named `id` since the program started, so its flows need no
 * connection-table entry. A slot that changed names the backend its unrecorded flows began on
 * (`prev`, valid while that backend keeps `prev_generation`; generation 0 never matches: none)
 * until `prev_until` (seconds of the monotonic clock bpf_ktime_get_ns reads): a connection open
 * at the change shows itself by then. Afterwards an unrecorded flow goes where the table says,
 * as on a balancer of the fleet that never saw the change (a connection another balancer opened).
 */
#define SLOT_CLEAN 0xFFFF
#define NSEC_PER_SEC 1000000000ULL
struct maglev_slot {
	__u16 id;
	__u16 prev;
	__u32 prev_generation;
	__u32 prev_until;
};

/* Two tables of maglev_size slots each: [0, size) and [size, 2 size). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 251);
	__type(key, __u32);
	__type(value, struct maglev_slot);
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_control);
} control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_backend);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_stats);
} stats SEC(".maps");

/*
 * Not read by the program: user space's description of the instance (JSON: interface, service,
 * backend names and MACs), pinned with the other maps so that `status` can name what it counts.
 */
#define INFO_SIZE 32768
struct lb_info {
	char json[INFO_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_info);
} info SEC(".maps");

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 murmur3_mix(__u32 h, __u32 word)
{
	__u32 k = word * 0xcc9e2d51;
	k = rotl32(k, 15) * 0x1b873593;
	h ^= k;
	return rotl32(h, 13) * 5 + 0xe6546b64;
}

/*
 * The flow hash Maglev slots are picked by: murmur3_32 (seed 0) of the source address and the
 * two ports, as they are in the packet (8 bytes for IPv4, 20 for IPv6). The destination and the
 * protocol are the service's, the same for every flow of a family.
 */
static __always_inline __u32 flow_hash(const struct flow_key *key)
{
	__u32 h = murmur3_mix(0, key->src[0]);
	__u32 length = 8;
	if (key->family == 6) {
		h = murmur3_mix(h, key->src[1]);
		h = murmur3_mix(h, key->src[2]);
		h = murmur3_mix(h, key->src[3]);
		length = 20;
	}
	h = murmur3_mix(h, (__u32)key->sport | ((__u32)key->dport << 16));
	h ^= length;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline struct lb_stats *lb_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats, &zero);
}

/* A TCP segment that opens a connection: SYN without ACK. */
static __always_inline int tcp_opens(__u8 flags)
{
	return (flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

static __always_inline struct backend *valid_backend(__u32 id, __u32 generation)
{
	struct backend *b = bpf_map_lookup_elem(&backends, &id);
	return b && b->valid && b->generation == generation ? b : 0;
}

/*
 * The backend of a flow. A TCP flow whose Maglev slot is clean goes where the slot says, with no
 * connection-table work at all: the slot has named the same backend since the program started.
 * In a slot that changed, the connection table decides: a recorded flow keeps its backend (if it
 * is still there); an unrecorded one is a connection that opens now (SYN: the slot's backend) or
 * one that began before the change (the slot's previous backend, if still there and the change
 * recent: prev_until) — either way it is recorded. UDP has no connection start: every UDP flow is recorded when first seen.
 */
static __always_inline struct backend *pick_backend(const struct flow_key *key, __u8 tcp_flags, __u32 *id, int *fresh)
{
	__u32 size = maglev_size;
	if (size == 0)
		return 0;
	__u32 zero = 0;
	struct lb_control *ctl = bpf_map_lookup_elem(&control, &zero);
	__u32 index = ((__u64)flow_hash(key) * size) >> 32;
	if (ctl && (ctl->active & 1))
		index += size;
	struct maglev_slot *slot = bpf_map_lookup_elem(&maglev, &index);
	if (!slot)
		return 0;
	int tcp = service_protocol == IPPROTO_TCP_;
	if (tcp && slot->prev == SLOT_CLEAN) {
		__u32 cid = slot->id;
		struct backend *b = bpf_map_lookup_elem(&backends, &cid);
		if (!b || !b->valid)
			return 0;
		*id = cid;
		*fresh = tcp_opens(tcp_flags);
		return b;
	}
	struct flow_backend *known = bpf_map_lookup_elem(&conntrack, key);
	if (known) {
		struct backend *b = valid_backend(known->id, known->generation);
		if (b) {
			*id = known->id;
			*fresh = tcp && tcp_opens(tcp_flags);
			return b;
		}
	}
	__u32 cid = slot->id;
	struct backend *b = 0;
	/*
	 * Unrecorded and not opening, soon after the change: it began before the slot changed. (A
	 * recorded flow whose backend is gone starts over.)
	 */
	if (tcp && !known && !tcp_opens(tcp_flags) && slot->prev != SLOT_CLEAN && bpf_ktime_get_ns() < (__u64)slot->prev_until * NSEC_PER_SEC) {
		b = valid_backend(slot->prev, slot->prev_generation);
		if (b)
			cid = slot->prev;
	}
	if (!b) {
		b = bpf_map_lookup_elem(&backends, &cid);
		if (!b || !b->valid)
			return 0;
	}
	struct flow_backend entry = { .id = cid, .generation = b->generation };
	*id = cid;
	*fresh = !tcp || tcp_opens(tcp_flags);
	bpf_map_update_elem(&conntrack, key, &entry, BPF_ANY);
	return b;
}

static __always_inline int is_ipv6_extension(__u8 nexthdr)
{
	/* Hop-by-hop, routing, fragment, destination options, AH. */
	return nexthdr == 0 || nexthdr == 43 || nexthdr == 44 || nexthdr == 60 || nexthdr == 51;
}

#define MAX_IPV6_EXTENSIONS 4

/* The upper-layer protocol after the IPv6 extension headers (walking a few), or 255 when unknown. */
static __always_inline __u8 ipv6_upper_protocol(struct ipv6hdr *ip6, void *data_end)
{
	__u8 next = ip6->nexthdr;
	void *cursor = ip6 + 1;

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXTENSIONS; i++) {
		if (!is_ipv6_extension(next))
			return next;
		__u8 *h = cursor;
		if ((void *)(h + 2) > data_end)
			return 255;
		__u32 length;
		if (next == 44)
			length = 8;
		else if (next == 51)
			length = ((__u32)h[1] + 2) * 4;
		else
			length = ((__u32)h[1] + 1) * 8;
		next = h[0];
		cursor += length;
	}
	return is_ipv6_extension(next) ? 255 : next;
}

SEC("xdp")
int xdp_loadbalancer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct flow_key key = {};
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	/* Only frames sent to this interface: flooded or promiscuously received ones are not ours. */
#pragma unroll
	for (int i = 0; i < 6; i++)
		if (eth->h_dest[i] != if_mac[i])
			return XDP_PASS;
	__u16 proto = eth->h_proto;
	void *cursor = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vlan = cursor;
		if ((void *)(vlan + 1) > data_end)
			return XDP_PASS;
		proto = vlan->h_vlan_encapsulated_proto;
		cursor = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		if (!has_vip4)
			return XDP_PASS;
		struct iphdr *ip = cursor;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		if (ip->version != 4 || ip->ihl < 5)
			return XDP_PASS;
		if (ip->daddr != vip4 || ip->protocol != service_protocol)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(IP_MF_OFFSET)) {
			struct lb_stats *s = lb_stats();
			if (s)
				s->unbalanceable++;
			return XDP_PASS;
		}
		key.src[0] = ip->saddr;
		key.dst[0] = ip->daddr;
		key.family = 4;
		l4 = (void *)ip + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if (!has_vip6)
			return XDP_PASS;
		struct ipv6hdr *ip6 = cursor;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		if (ip6->daddr.in6_u.u6_addr32[0] != vip6[0] || ip6->daddr.in6_u.u6_addr32[1] != vip6[1] ||
		    ip6->daddr.in6_u.u6_addr32[2] != vip6[2] || ip6->daddr.in6_u.u6_addr32[3] != vip6[3])
			return XDP_PASS;
		if (ip6->nexthdr != service_protocol) {
			/* Extension headers before the service protocol: counted. Anything else (ICMPv6…): passed. */
			if (is_ipv6_extension(ip6->nexthdr) && ipv6_upper_protocol(ip6, data_end) == service_protocol) {
				struct lb_stats *s = lb_stats();
				if (s)
					s->unbalanceable++;
			}
			return XDP_PASS;
		}
#pragma unroll
		for (int i = 0; i < 4; i++) {
			key.src[i] = ip6->saddr.in6_u.u6_addr32[i];
			key.dst[i] = ip6->daddr.in6_u.u6_addr32[i];
		}
		key.family = 6;
		l4 = ip6 + 1;
	} else {
		return XDP_PASS;
	}

	/* TCP and UDP both begin with the source and destination ports. */
	__be16 *ports = l4;
	if ((void *)(ports + 2) > data_end)
		return XDP_PASS;
	__u8 tcp_flags = 0;
	if (service_protocol == IPPROTO_TCP_) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return XDP_PASS;
		tcp_flags = ((__u8 *)tcp)[13];
	}
	if (ports[1] != service_port)
		return XDP_PASS;
	key.sport = ports[0];
	key.dport = ports[1];
	key.protocol = service_protocol;

	struct lb_stats *s = lb_stats();
	if (s)
		s->service_packets++;

	__u32 index = 0;
	int fresh = 0;
	struct backend *b = pick_backend(&key, tcp_flags, &index, &fresh);
	if (!b) {
		if (s)
			s->no_backend++;
		return XDP_DROP;
	}

	__builtin_memcpy(eth->h_dest, b->mac, 6);
#pragma unroll
	for (int i = 0; i < 6; i++)
		eth->h_source[i] = if_mac[i];

	if (fresh && sample_flows && bpf_get_prandom_u32() % sample_flows == 0) {
		struct flow_event *e = bpf_ringbuf_reserve(&flows, sizeof(*e), 0);
		if (e) {
			e->ns = bpf_ktime_get_ns();
			e->backend = index;
			e->sport = key.sport;
			e->family = key.family;
			e->reserved = 0;
			__builtin_memcpy(e->src, key.src, sizeof(e->src));
			bpf_ringbuf_submit(e, 0);
		} else if (s) {
			s->samples_lost++;
		}
	}

	struct backend_counters *c = bpf_map_lookup_elem(&counters, &index);
	if (c) {
		c->packets++;
		c->bytes += data_end - data;
		c->new_flows += fresh;
	}
	if (s)
		s->forwarded++;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
