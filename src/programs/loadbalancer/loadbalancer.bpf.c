// SPDX-License-Identifier: GPL-2.0
/*
 * tsebpf loadbalancer: an XDP layer-4 load balancer with direct server return.
 *
 * Packets to the service (VIP, protocol, destination port) are re-addressed at layer 2 to a
 * backend and sent back out of the interface they came in on (XDP_TX). The backends hold the
 * VIP on loopback and answer the client directly. A flow keeps its backend through an LRU
 * connection table; new flows pick one from a Maglev table that user space fills. Everything
 * else passes to the kernel untouched.
 *
 * Backends have stable ids (their index in `backends`) and a generation: user space adds and
 * removes backends while the program runs. The Maglev table has two halves; user space writes
 * the idle one and then flips `control.active`, so a packet sees the old table or the new one,
 * never a mix. A connection-table hit counts only if its backend is still valid and of the same
 * generation; flows of a removed backend are new flows again.
 *
 * The flow hash is murmur3 (32-bit) over the 40 bytes of struct flow_key read as little-endian
 * words, seed 0: user space computes the same value (maglev.ts: flowHash).
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
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

/* Two tables of maglev_size slots each: [0, size) and [size, 2 size); slot -> backend id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 251);
	__type(key, __u32);
	__type(value, __u32);
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

/* murmur3_32 over the key's 10 words. */
static __always_inline __u32 flow_hash(const struct flow_key *key)
{
	const __u32 *w = (const __u32 *)key;
	__u32 h = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*key) / 4); i++) {
		__u32 k = w[i] * 0xcc9e2d51;
		k = rotl32(k, 15) * 0x1b873593;
		h ^= k;
		h = rotl32(h, 13) * 5 + 0xe6546b64;
	}
	h ^= sizeof(*key);
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

/*
 * The backend of a flow: the one it had (if that backend is still there), or a new one from the
 * active Maglev table.
 */
static __always_inline struct backend *pick_backend(const struct flow_key *key, __u32 *id, int *fresh)
{
	struct flow_backend *known = bpf_map_lookup_elem(&conntrack, key);
	if (known) {
		__u32 kid = known->id;
		struct backend *b = bpf_map_lookup_elem(&backends, &kid);
		if (b && b->valid && b->generation == known->generation) {
			*id = kid;
			*fresh = 0;
			return b;
		}
	}
	__u32 size = maglev_size;
	if (size == 0)
		return 0;
	__u32 zero = 0;
	struct lb_control *ctl = bpf_map_lookup_elem(&control, &zero);
	__u32 slot = flow_hash(key) % size;
	if (ctl && (ctl->active & 1))
		slot += size;
	__u32 *chosen = bpf_map_lookup_elem(&maglev, &slot);
	if (!chosen)
		return 0;
	__u32 cid = *chosen;
	struct backend *b = bpf_map_lookup_elem(&backends, &cid);
	if (!b || !b->valid)
		return 0;
	struct flow_backend entry = { .id = cid, .generation = b->generation };
	*id = cid;
	*fresh = 1;
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
	struct backend *b = pick_backend(&key, &index, &fresh);
	if (!b) {
		if (s)
			s->no_backend++;
		return XDP_DROP;
	}

	__builtin_memcpy(eth->h_dest, b->mac, 6);
#pragma unroll
	for (int i = 0; i < 6; i++)
		eth->h_source[i] = if_mac[i];

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
