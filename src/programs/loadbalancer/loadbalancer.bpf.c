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
volatile const __u32 backend_count;
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
	__u8 pad[2];
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
	/* IPv4 fragments and IPv6 packets with extension headers: no ports to balance on, passed. */
	__u64 unbalanceable;
	/* Dropped: the Maglev slot named no configured backend. */
	__u64 no_backend;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 251);
	__type(key, __u32);
	__type(value, __u32);
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, __u32);
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

/* The backend of a flow: the one it had, or a new one from the Maglev table. */
static __always_inline int pick_backend(const struct flow_key *key, __u32 *index, int *fresh)
{
	__u32 *known = bpf_map_lookup_elem(&conntrack, key);
	if (known && *known < backend_count) {
		*index = *known;
		*fresh = 0;
		return 0;
	}
	__u32 size = maglev_size;
	if (size == 0)
		return -1;
	__u32 slot = flow_hash(key) % size;
	__u32 *chosen = bpf_map_lookup_elem(&maglev, &slot);
	if (!chosen || *chosen >= backend_count)
		return -1;
	*index = *chosen;
	*fresh = 1;
	bpf_map_update_elem(&conntrack, key, index, BPF_ANY);
	return 0;
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
			/* Extension headers (or another protocol): count only what might be ours. */
			if (ip6->nexthdr != IPPROTO_TCP_ && ip6->nexthdr != IPPROTO_UDP_) {
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
	if (pick_backend(&key, &index, &fresh) < 0) {
		if (s)
			s->no_backend++;
		return XDP_DROP;
	}
	struct backend *b = bpf_map_lookup_elem(&backends, &index);
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
