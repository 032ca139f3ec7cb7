// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * packetfilter: passes or drops incoming IPv4/IPv6 packets by source address, at XDP.
 *
 * A rule set is a generation in one of two slots. Per family, its rules live in inner maps held
 * by two-slot outer arrays: exact hosts (/32, /128) in a hash map; shorter prefixes in a hash map
 * keyed by (length, masked address), one lookup per length, when they have at most
 * HASHED_LENGTHS lengths, else in an LPM trie. A slot's `generations` entry holds its defaults,
 * which maps it has and its prefix lengths. The `state` word holds the number of the live
 * generation (its slot is the low bit): user space fills the idle slot completely, then writes
 * the word — a write no reader can see half of — so every rule and default changes at once. The
 * old slot stays as it is until the next reload rewrites it, so a packet that read the old word
 * still finds all it needs. A host rule is the longest possible prefix, so a host hit decides.
 * Bitmap summaries of each slot's hosts and prefixes let a packet that no rule can match skip
 * the lookups.
 *
 * Hit counts are not in the rule maps: a rule holds the number of its counter, which stays the
 * same for as long as the rule stays in the rule set, reload after reload, so a reload moves no
 * count (see struct hit and generation.ts).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define MAX_VLAN_TAGS 2

/* Flags of a generation (struct generation). */
#define GEN_V4_DEFAULT_BLOCK 0x1u
#define GEN_V6_DEFAULT_BLOCK 0x2u
#define GEN_V4_HOSTS 0x4u
#define GEN_V4_PREFIXES 0x8u
#define GEN_V4_PREFIX_HASH 0x10u
#define GEN_V6_HOSTS 0x20u
#define GEN_V6_PREFIXES 0x40u
#define GEN_V6_PREFIX_HASH 0x80u

/* A family whose prefixes have at most this many lengths keeps them in a hash map, one lookup per length. */
#define HASHED_LENGTHS 4

/* Verdict counters: family * 4 + (by default ? 2 : 0) + (dropped ? 1 : 0), then these; and the
 * drop samples the ring buffer had no room for. */
#define VERDICT_NOT_IP 8
#define VERDICT_MALFORMED 9
#define SAMPLES_LOST 10
#define VERDICTS 11

#define ACTION_ALLOW 0
#define ACTION_BLOCK 1

struct rule {
	__u32 action;
	/* The rule's prefix length (for drop samples). */
	__u32 prefixlen;
	/* Its counter: entry counter % HIT_CHUNK of chunk counter / HIT_CHUNK (struct hit). */
	__u32 counter;
	__u32 reserved;
	/* Which rule owns the counter: the generation that gave it the counter (never 0). */
	__u64 tag;
};

/*
 * A rule's hit count on one CPU. Only this program writes it, and each CPU only its own entries.
 * A counter that a removed rule had is given to a new rule with a new tag: the first time the
 * new rule counts on a CPU, it finds another tag there and starts that CPU's count afresh. (On a
 * CPU, program runs follow each other; a run that can still find the removed rule started before
 * the new rule was given the counter, so it ran before any run of the new rule on that CPU.)
 * User space adds a counter's entries whose tag is the rule's.
 */
struct hit {
	__u64 tag;
	__u64 count;
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct v4_host { __u8 addr[4]; };
struct v6_host { __u8 addr[16]; };
struct v4_prefix { __u32 prefixlen; __u8 addr[4]; };
struct v6_prefix { __u32 prefixlen; __u8 addr[16]; };

/*
 * Templates of the inner maps; user space creates each generation's maps at the size it needs.
 * Sizes rather than types: clang describes structs reached only through a template's pointers as
 * forward declarations, which have no size.
 */
struct v4_hosts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, 4); /* struct v4_host */
	__uint(value_size, 24); /* struct rule */
};
struct v6_hosts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, 16); /* struct v6_host */
	__uint(value_size, 24); /* struct rule */
};
struct v4_prefixes_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, 8); /* struct v4_prefix */
	__uint(value_size, 24); /* struct rule */
};
struct v6_prefixes_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, 20); /* struct v6_prefix */
	__uint(value_size, 24); /* struct rule */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct v4_hosts_map);
} v4_hosts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct v6_hosts_map);
} v6_hosts SEC(".maps");

struct v4_prefix_hash_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, 8); /* struct v4_prefix, host bits zero */
	__uint(value_size, 24); /* struct rule */
};
struct v6_prefix_hash_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, 20); /* struct v6_prefix, host bits zero */
	__uint(value_size, 24); /* struct rule */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct v4_prefixes_map);
} v4_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct v4_prefix_hash_map);
} v4_prefix_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct v6_prefix_hash_map);
} v6_prefix_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct v6_prefixes_map);
} v6_prefixes SEC(".maps");

/*
 * What a slot holds besides its maps: flags (GEN_*), the hashed prefix lengths (longest first)
 * and, per family, the shortest prefix length: the bits the prefix summary hashes (0: all
 * prefixes are looked up, there is no summary).
 */
struct generation {
	__u32 flags;
	__u8 count[2]; /* per family: IPv4, IPv6 */
	__u8 length[2][HASHED_LENGTHS];
	__u8 summary[2];
};

/*
 * Summaries: per slot, family and kind (hosts, prefixes) a bitmap of SUMMARY_BITS bits, with the
 * bit summary_hash(address) set for each host and summary_hash(address masked to the shortest
 * prefix length) for each prefix. A clear bit means no rule of that kind can match: the lookup is
 * skipped. A set bit (a rule, or another address that hashes the same) means look. So a source
 * with no rule, the common case of a block list, costs no hash-map lookup at all.
 */
#define SUMMARY_BITS 22
#define SUMMARY_WORD_BITS (SUMMARY_BITS - 6)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 2 * 2 << SUMMARY_WORD_BITS);
	__type(key, __u32);
	__type(value, __u64);
} summary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct generation);
} generations SEC(".maps");

/*
 * Hit counters, HIT_CHUNK to a chunk: a chunk is an array of struct hit, CPU-major (the entry of
 * counter c on CPU n is n * HIT_CHUNK + c % HIT_CHUNK), sized by user space for this machine's
 * CPUs at load. Chunks are created as rule sets need them and never move.
 */
#define HIT_CHUNK_BITS 12
#define HIT_CHUNK (1u << HIT_CHUNK_BITS)
#define HIT_CHUNKS 16384
struct hit_chunk_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HIT_CHUNK);
	__uint(key_size, 4);
	__uint(value_size, 16); /* struct hit */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, HIT_CHUNKS);
	__type(key, __u32);
	__array(values, struct hit_chunk_map);
} hit_chunks SEC(".maps");

/*
 * The live generation's number; its slot is the low bit. Generation 0 (slot 0) is empty until
 * user space configures: everything passes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VERDICTS);
	__type(key, __u32);
	__type(value, struct counter);
} verdicts SEC(".maps");

/* One dropped packet in this many is reported to `drops` (0: none). Set before load. */
volatile const __u32 sample_drops = 0;

/* A sampled drop. */
struct drop_event {
	__u64 ns; /* bpf_ktime_get_ns() */
	__u32 length; /* of the frame */
	__u8 family; /* 4 or 6 */
	__u8 by_default; /* 1: no rule matched, the family's default dropped it */
	__u8 prefixlen; /* of the rule that matched */
	__u8 reserved;
	__u8 src[16]; /* IPv4: the first 4 */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} drops SEC(".maps");

/*
 * Names the structs user space writes and reads but no map's BTF has (the inner maps' templates
 * give sizes only, the ring buffer no type) in the object's BTF, for the generated bindings
 * (packetfilter.gen.ts: tsebpf gen --type …); never read.
 */
struct drop_event *const drop_event_type __attribute__((unused)) = 0;
struct rule *const rule_type __attribute__((unused)) = 0;
struct hit *const hit_type __attribute__((unused)) = 0;
struct v4_host *const v4_host_type __attribute__((unused)) = 0;
struct v6_host *const v6_host_type __attribute__((unused)) = 0;
struct v4_prefix *const v4_prefix_type __attribute__((unused)) = 0;
struct v6_prefix *const v6_prefix_type __attribute__((unused)) = 0;

static __always_inline int finish(struct xdp_md *ctx, __u32 verdict, int action)
{
	struct counter *c = bpf_map_lookup_elem(&verdicts, &verdict);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return action;
}

/*
 * The source address as a prefix key: `original` has the whole address (its length field is the
 * family's full length, as the trie wants it), `key` receives it masked to a hashed length.
 */
struct prefix_scratch {
	struct v6_prefix original;
	struct v6_prefix key;
};

static __always_inline void *mask(struct prefix_scratch *p, __u32 family, __u32 len)
{
	p->key.prefixlen = len;
	if (family == 0) {
		__u32 a;

		__builtin_memcpy(&a, p->original.addr, 4);
		a &= len == 0 ? 0 : bpf_htonl(0xffffffffu << (32 - (len & 31)));
		__builtin_memcpy(p->key.addr, &a, 4);
	} else {
		__u64 hi, lo;

		__builtin_memcpy(&hi, p->original.addr, 8);
		__builtin_memcpy(&lo, p->original.addr + 8, 8);
		if (len <= 64) {
			hi &= len == 0 ? 0 : bpf_cpu_to_be64(0xffffffffffffffffull << (64 - len));
			lo = 0;
		} else {
			lo &= bpf_cpu_to_be64(0xffffffffffffffffull << (128 - len));
		}
		__builtin_memcpy(p->key.addr, &hi, 8);
		__builtin_memcpy(p->key.addr + 8, &lo, 8);
	}
	return &p->key;
}

/* A multiplicative hash of an address's 4 words (IPv4: one), as user space computes it (summary.ts). */
static __always_inline __u32 summary_hash(__u32 family, const __u8 *addr)
{
	__u32 w[4] = {}, h;

	if (family == 0) {
		__builtin_memcpy(&w[0], addr, 4);
		h = w[0] * 0x9e3779b1u;
	} else {
		__builtin_memcpy(w, addr, 16);
		h = (w[0] * 0x9e3779b1u) ^ (w[1] * 0x85ebca77u) ^ (w[2] * 0xc2b2ae3du) ^ (w[3] * 0x27d4eb2fu);
	}
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	return h >> (32 - SUMMARY_BITS);
}

/* Whether the summary of (slot, family, kind) has the bit of hash `h`. */
static __always_inline int summarized(__u32 slot, __u32 family, __u32 kind, __u32 h)
{
	__u32 index = (((slot * 2 + family) * 2 + kind) << SUMMARY_WORD_BITS) | (h >> 6);
	__u64 *word = bpf_map_lookup_elem(&summary, &index);

	return word && ((*word >> (h & 63)) & 1);
}

/* Reports a dropped packet to `drops`, or counts it lost when the ring is full. */
static __always_inline void sample_drop(struct xdp_md *ctx, __u32 family, struct rule *r, const void *src)
{
	struct drop_event *e = bpf_ringbuf_reserve(&drops, sizeof(*e), 0);

	if (!e) {
		finish(ctx, SAMPLES_LOST, 0);
		return;
	}
	e->ns = bpf_ktime_get_ns();
	e->length = ctx->data_end - ctx->data;
	e->family = family == 0 ? 4 : 6;
	e->by_default = !r;
	e->prefixlen = r ? r->prefixlen : 0;
	e->reserved = 0;
	__builtin_memset(e->src, 0, sizeof(e->src));
	if (family == 0)
		__builtin_memcpy(e->src, src, 4);
	else
		__builtin_memcpy(e->src, src, 16);
	bpf_ringbuf_submit(e, 0);
}

/* Counts a packet the rule decided, on this CPU (see struct hit). */
static __always_inline void count_hit(struct rule *r)
{
	__u32 chunk = r->counter >> HIT_CHUNK_BITS;
	__u32 index = (bpf_get_smp_processor_id() << HIT_CHUNK_BITS) | (r->counter & (HIT_CHUNK - 1));
	__u64 tag = r->tag;
	struct hit *h;
	void *inner;

	inner = bpf_map_lookup_elem(&hit_chunks, &chunk);
	if (!inner)
		return;
	h = bpf_map_lookup_elem(inner, &index);
	if (!h)
		return;
	if (h->tag == tag) {
		h->count++;
		return;
	}
	/* The counter's first packet on this CPU since the rule got it: the count before is another
	 * rule's. The count is written before the tag, so a reader that sees the tag sees it. */
	h->count = 1;
	asm volatile("" ::: "memory");
	h->tag = tag;
}

/* The rule for a source address: the exact host first, then the longest prefix. */
static __always_inline int decide(struct xdp_md *ctx, void *hosts_outer, void *prefixes_outer, void *prefix_hash_outer,
				  void *host, struct prefix_scratch *prefix, __u32 slot, struct generation *gen, __u32 family)
{
	__u32 flags = gen ? gen->flags : 0, verdict = family * 4;
	__u32 shift = family == 0 ? 0 : 3; /* GEN_V6_x == GEN_V4_x << 3 for hosts, prefixes, prefix hash */
	struct rule *r = NULL;
	bool block = flags & (family == 0 ? GEN_V4_DEFAULT_BLOCK : GEN_V6_DEFAULT_BLOCK);
	void *inner;

	if ((flags & (GEN_V4_HOSTS << shift)) && summarized(slot, family, 0, summary_hash(family, host))) {
		inner = bpf_map_lookup_elem(hosts_outer, &slot);
		if (inner)
			r = bpf_map_lookup_elem(inner, host);
	}
	if (!r && gen && (flags & ((GEN_V4_PREFIX_HASH | GEN_V4_PREFIXES) << shift))) {
		__u32 shortest = gen->summary[family & 1];

		if (shortest && !summarized(slot, family, 1, summary_hash(family, ((struct v6_prefix *)mask(prefix, family, shortest))->addr)))
			goto decided;
	}
	if (!r && gen && (flags & (GEN_V4_PREFIX_HASH << shift))) {
		inner = bpf_map_lookup_elem(prefix_hash_outer, &slot);
		if (inner) {
			__u32 count = gen->count[family & 1];
#pragma unroll
			for (int i = 0; i < HASHED_LENGTHS; i++) {
				if (i >= count)
					break;
				r = bpf_map_lookup_elem(inner, mask(prefix, family, gen->length[family & 1][i]));
				if (r)
					break;
			}
		}
	}
	if (!r && (flags & (GEN_V4_PREFIXES << shift))) {
		inner = bpf_map_lookup_elem(prefixes_outer, &slot);
		if (inner)
			r = bpf_map_lookup_elem(inner, &prefix->original);
	}
decided:
	if (r) {
		count_hit(r);
		block = r->action == ACTION_BLOCK;
	} else
		verdict += 2;
	if (block) {
		verdict += 1;
		if (sample_drops && bpf_get_prandom_u32() % sample_drops == 0)
			sample_drop(ctx, family, r, host);
	}
	return finish(ctx, verdict, block ? XDP_DROP : XDP_PASS);
}

SEC("xdp")
int packetfilter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0, slot;
	__u64 *generation;
	struct generation *gen;
	__u16 proto;
	void *l3;

	if ((void *)(eth + 1) > end)
		return finish(ctx, VERDICT_MALFORMED, XDP_PASS);
	proto = eth->h_proto;
	l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vlan = l3;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > end)
			return finish(ctx, VERDICT_MALFORMED, XDP_PASS);
		proto = vlan->h_vlan_encapsulated_proto;
		l3 = vlan + 1;
	}

	generation = bpf_map_lookup_elem(&state, &zero);
	slot = generation ? *generation & 1 : 0;
	gen = bpf_map_lookup_elem(&generations, &slot);

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		struct v4_host host;
		struct prefix_scratch prefix = { .original.prefixlen = 32 };

		if ((void *)(ip + 1) > end)
			return finish(ctx, VERDICT_MALFORMED, XDP_PASS);
		__builtin_memcpy(host.addr, &ip->saddr, 4);
		__builtin_memcpy(prefix.original.addr, &ip->saddr, 4);
		return decide(ctx, &v4_hosts, &v4_prefixes, &v4_prefix_hash, &host, &prefix, slot, gen, 0);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		struct v6_host host;
		struct prefix_scratch prefix = { .original.prefixlen = 128 };

		if ((void *)(ip6 + 1) > end)
			return finish(ctx, VERDICT_MALFORMED, XDP_PASS);
		__builtin_memcpy(host.addr, &ip6->saddr, 16);
		__builtin_memcpy(prefix.original.addr, &ip6->saddr, 16);
		return decide(ctx, &v6_hosts, &v6_prefixes, &v6_prefix_hash, &host, &prefix, slot, gen, 1);
	}
	return finish(ctx, VERDICT_NOT_IP, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
