// SPDX-License-Identifier: GPL-2.0
/*
 * tsebpf jittergen: a network-condition simulator on TC egress.
 *
 * Each packet leaving the interface is matched against the rules (first match wins): family,
 * protocol, source/destination prefix and port ranges. A matched packet is selected with the
 * rule's probability (optionally correlated with the previous draw, as netem does) and then
 * dropped (Bernoulli or Gilbert-Elliott loss), delayed by an independent uniform draw from
 * [min, max] while keeping its flow's order (jitter), or delayed by a fixed time so that it
 * arrives after its successors (reorder). Matched packets may also be duplicated, corrupted
 * (one bit of the payload flipped) and paced to a rate.
 *
 * A delay is a departure time (deadline). Two engines apply it:
 *  - edt: the deadline goes to skb->tstamp, which the fq root qdisc honours (user space makes fq
 *    the root with a horizon covering the largest delay).
 *  - recirculate: for kernels without fq. A not-yet-due packet carries its deadline in skb->cb
 *    and a mark, and is bounced to the device's ingress (bpf_redirect with BPF_F_INGRESS), where
 *    jg_ingress sends it back to egress; each lap checks the deadline. cb and mark survive the
 *    lap, tstamp does not. Costly in softirq time: for test rigs at low packet rates.
 *  - userspace: a not-yet-due packet is copied (with its deadline and a sequence number) into the
 *    `held` ring buffer and the original consumed; a user-space thread keeps the copies in a heap,
 *    sleeps on a timerfd until the earliest deadline and sends each one out of the interface
 *    through an AF_PACKET socket whose SO_MARK is release_mark. Such a packet passes here
 *    untouched. Waiting costs no CPU: a ring record and a sendto per delayed packet.
 * Deadlines further away than the horizon are refused (dropped, counted as overlimit). How late
 * the recirculate engine released each packet (now - deadline at release) goes to jg_stats: the
 * laps run in softirq context, and once a CPU has spent ~2 ms there the kernel leaves the rest
 * to ksoftirqd, an ordinary thread that waits its turn on a busy CPU; that wait is the lateness.
 *
 * The rules live in a double-buffered array (user space writes the idle half, then flips
 * control.active): a packet sees the old rules or the new ones, never a mix.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_UNSPEC_ (-1)
#define TC_ACT_OK_ 0
#define TC_ACT_SHOT_ 2
#define BPF_F_INGRESS_ 1
#define ETH_HLEN_ 14
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IP_MF_OFFSET 0x3FFF

#define MAX_RULES 16
#define HIST_BUCKETS 24
#define NSEC 1000000000ULL
/* 2^32: a probability threshold that always selects. */
#define ALWAYS 0x100000000ULL
#define PPM 1000000

enum action {
	ACTION_PASS = 0,
	ACTION_DROP = 1,
	ACTION_JITTER = 2,
	ACTION_REORDER = 3,
};

enum loss_model {
	LOSS_BERNOULLI = 0,
	LOSS_GILBERT_ELLIOTT = 1,
};

enum engine {
	ENGINE_EDT = 0,
	ENGINE_RECIRCULATE = 1,
	ENGINE_USERSPACE = 2,
};

/* userspace engine: the largest packet copied to user space (a larger one leaves undelayed). */
#define HOLD_MAX 9216

/* What user space sets before load (read-only: constants to the verifier). */
volatile const __u8 engine = ENGINE_EDT;
/* The interface the program runs on (the recirculation target). */
volatile const __u32 ifindex;
/* The mark of a packet being recirculated; the mark of a duplicate is this ^ 1. */
volatile const __u32 recirc_mark = 0x6a697400;
/* userspace engine: the mark user space gives the packets it releases (SO_MARK). */
volatile const __u32 release_mark = 0x6a697402;
/* The longest a packet may be held (the fq horizon for edt). */
volatile const __u64 horizon_ns = 10 * NSEC;

/* A rule. Thresholds are probabilities scaled to 2^32 (ALWAYS: 1). Addresses in network order. */
struct rule {
	__u8 action; /* enum action */
	__u8 family; /* 0: any, 4, 6 */
	__u8 protocol; /* 0: any IP, 6, 17 */
	__u8 loss_model; /* enum loss_model (drop) */
	__u8 src_len; /* prefix length, 0: any */
	__u8 dst_len;
	__u8 keep_order; /* jitter: a packet never departs before its flow's previous one */
	__u8 pad;
	__u16 sport_lo, sport_hi; /* host order, inclusive */
	__u16 dport_lo, dport_hi;
	__u32 correlation_ppm; /* of the selection draw with the previous one */
	__u32 src[4];
	__u32 dst[4];
	__u64 select; /* threshold: the rule's percent */
	__u64 ge_p; /* Gilbert-Elliott: good -> bad */
	__u64 ge_r; /* bad -> good */
	__u64 ge_loss_bad; /* loss in the bad state */
	__u64 ge_loss_good; /* loss in the good state */
	__u64 duplicate; /* threshold */
	__u64 corrupt; /* threshold */
	__u64 min_delay_ns;
	__u64 max_delay_ns;
	__u64 reorder_delay_ns;
	__u64 rate_bytes_per_sec; /* 0: no pacing */
};

struct rule_set {
	__u32 count;
	__u32 pad;
	struct rule rules[MAX_RULES];
};

struct control {
	__u32 active; /* 0 or 1: the half of `rules` in effect */
};

/* State shared by all CPUs, per rule (races between CPUs only blur the statistics). */
struct rule_state {
	__u32 last_draw; /* correlated selection: the previous draw */
	__u32 ge_bad; /* Gilbert-Elliott: 1 in the bad state */
	__u64 next_departure; /* pacing: when the next packet may leave */
};

struct rule_counters {
	__u64 matched;
	__u64 selected;
	__u64 dropped;
	__u64 delayed;
	__u64 reordered;
	__u64 duplicated;
	__u64 corrupted;
	__u64 overlimit; /* deadline beyond the horizon: dropped */
	__u64 delay_ns; /* sum of the delays given */
	__u64 hist[HIST_BUCKETS]; /* delays: bucket i holds [2^i, 2^(i+1)) microseconds (0: < 2 µs) */
};

struct jg_stats {
	__u64 packets; /* seen on egress (laps and duplicates excluded) */
	__u64 laps; /* recirculation laps */
	__u64 released; /* delayed packets sent on when due (recirculate) */
	__u64 late_ns; /* recirculate: sum of (release time - deadline), how late the engine let them go */
	__u64 late_hist[HIST_BUCKETS]; /* the same per packet, log2 buckets of microseconds as rule_counters.hist */
	__u64 handed; /* userspace: packets copied to the held ring */
	__u64 unheld; /* userspace: too large (or GSO) to copy: sent on at once, undelayed */
	__u64 ring_full; /* userspace: the ring had no room: dropped */
};

/* userspace engine: a record of the held ring (the packet's bytes follow the header). */
struct held_packet {
	__u64 departure; /* bpf_ktime_get_ns clock (CLOCK_MONOTONIC) */
	__u64 seq; /* order of arrival: equal departures leave in this order */
	__u32 len;
	__u32 pad;
	__u8 data[HOLD_MAX];
};

struct hold_seq {
	__u64 next;
};

struct flow_key {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
	__u8 protocol;
	__u8 family;
	__u8 rule;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct rule_set);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct control);
} control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct rule_state);
} state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct rule_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct jg_stats);
} stats SEC(".maps");

/* userspace engine: held packets on their way to user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} held SEC(".maps");

/* userspace engine: where a packet is copied before it goes into the ring (one per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct held_packet);
} held_scratch SEC(".maps");

/* userspace engine: the next sequence number (shared by the CPUs). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hold_seq);
} held_seq SEC(".maps");

/* Per flow and rule: the departure time of the flow's latest delayed packet. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, __u64);
} flows SEC(".maps");

/* What the parser found. */
struct packet {
	struct flow_key key;
	__u32 payload_off; /* start of the L4 payload (0: unknown) */
	__u8 has_ports;
};

static __always_inline int parse(struct __sk_buff *skb, struct packet *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 l4;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP_)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 ihl;

		if ((void *)(ip + 1) > end)
			return -1;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip))
			return -1;
		p->key.family = 4;
		p->key.protocol = ip->protocol;
		p->key.src[0] = ip->saddr;
		p->key.dst[0] = ip->daddr;
		if (ip->frag_off & bpf_htons(IP_MF_OFFSET) & bpf_htons(0x1FFF))
			return 0; /* a later fragment: no ports */
		l4 = ETH_HLEN_ + ihl;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6_)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return -1;
		p->key.family = 6;
		p->key.protocol = ip6->nexthdr;
		__builtin_memcpy(p->key.src, &ip6->saddr, 16);
		__builtin_memcpy(p->key.dst, &ip6->daddr, 16);
		l4 = ETH_HLEN_ + sizeof(*ip6);
	} else {
		return -1;
	}
	/*
	 * The L4 header: read in place when it is in the linear part (the common case, no helper
	 * call), otherwise copied out with bpf_skb_load_bytes.
	 */
	if (p->key.protocol == IPPROTO_UDP_) {
		struct udphdr uh, *uhp = data + l4;

		if ((void *)(uhp + 1) > end) {
			if (bpf_skb_load_bytes(skb, l4, &uh, sizeof(uh)))
				return 0;
			uhp = &uh;
		}
		p->key.sport = bpf_ntohs(uhp->source);
		p->key.dport = bpf_ntohs(uhp->dest);
		p->payload_off = l4 + sizeof(uh);
		p->has_ports = 1;
	} else if (p->key.protocol == IPPROTO_TCP_) {
		struct tcphdr th, *thp = data + l4;

		if ((void *)(thp + 1) > end) {
			if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)))
				return 0;
			thp = &th;
		}
		p->key.sport = bpf_ntohs(thp->source);
		p->key.dport = bpf_ntohs(thp->dest);
		p->payload_off = l4 + thp->doff * 4;
		p->has_ports = 1;
	}
	return 0;
}

static __always_inline int prefix_match(const __u32 *addr, const __u32 *want, __u32 len)
{
	/* Word by word: whole words compared, then the masked last one (network order bytes). */
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 bits = len > 32 * i ? len - 32 * i : 0;
		__u32 mask;

		if (bits == 0)
			break;
		mask = bits >= 32 ? 0xFFFFFFFF : bpf_htonl(~((1U << (32 - bits)) - 1));
		if ((addr[i] ^ want[i]) & mask)
			return 0;
	}
	return 1;
}

static __always_inline int rule_matches(const struct rule *r, const struct packet *p)
{
	if (r->family && r->family != p->key.family)
		return 0;
	if (r->protocol && r->protocol != p->key.protocol)
		return 0;
	if (r->src_len && !prefix_match(p->key.src, r->src, r->src_len))
		return 0;
	if (r->dst_len && !prefix_match(p->key.dst, r->dst, r->dst_len))
		return 0;
	if (r->sport_lo != 0 || r->sport_hi != 0xFFFF || r->dport_lo != 0 || r->dport_hi != 0xFFFF) {
		if (!p->has_ports)
			return 0;
		if (p->key.sport < r->sport_lo || p->key.sport > r->sport_hi)
			return 0;
		if (p->key.dport < r->dport_lo || p->key.dport > r->dport_hi)
			return 0;
	}
	return 1;
}

/*
 * The first rule that matches, found with bpf_loop: the verifier checks the callback once instead
 * of every unrolled copy of the rule test (the unrolled 16-rule loop took ~240k instructions).
 */
struct search {
	struct rule_set *set;
	const struct packet *p;
	__u32 idx; /* MAX_RULES: none */
};

/* Rules 1.. (rule 0 is tried before the loop). */
static long search_rule(__u32 n, void *ctx)
{
	struct search *sr = ctx;
	__u32 i = n + 1;

	if (i >= MAX_RULES || i >= sr->set->count)
		return 1;
	if (rule_matches(&sr->set->rules[i], sr->p)) {
		sr->idx = i;
		return 1;
	}
	return 0;
}

/* A draw on [0, 2^32) compared with a threshold scaled to 2^32. */
static __always_inline int chance(__u64 threshold)
{
	return (__u64)bpf_get_prandom_u32() < threshold;
}

/* The selection draw, correlated with the previous one as netem's get_crandom does. */
static __always_inline int selected(const struct rule *r, struct rule_state *st)
{
	__u64 draw;

	/* No draw when the threshold decides alone (percent 0 or 100). */
	if (r->select == 0)
		return 0;
	if (r->select >= ALWAYS)
		return 1;
	draw = bpf_get_prandom_u32();
	if (r->correlation_ppm && st) {
		__u64 rho = r->correlation_ppm;

		draw = (draw * (PPM - rho) + (__u64)st->last_draw * rho) / PPM;
		st->last_draw = draw;
	}
	return draw < r->select;
}

/* Gilbert-Elliott (netem's loss_gilb_ell): move between the states, then lose by the state's rate. */
static __always_inline int ge_lost(const struct rule *r, struct rule_state *st)
{
	if (!st)
		return 0;
	if (!st->ge_bad) {
		if (chance(r->ge_p))
			st->ge_bad = 1;
	} else {
		if (chance(r->ge_r))
			st->ge_bad = 0;
	}
	return chance(st->ge_bad ? r->ge_loss_bad : r->ge_loss_good);
}

/* A uniform draw on [lo, hi], both included. */
static __always_inline __u64 uniform(__u64 lo, __u64 hi)
{
	__u64 span, draw;

	if (hi <= lo)
		return lo;
	span = hi - lo + 1;
	draw = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();
	return lo + draw % span;
}

static __always_inline __u32 log2_bucket(__u64 ns)
{
	__u64 us = ns / 1000;
	__u32 b = 0;

#pragma unroll
	for (int shift = 16; shift > 0; shift >>= 1) {
		if (us >= (1ULL << shift)) {
			us >>= shift;
			b += shift;
		}
	}
	return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* Flips one bit at a random place of the payload; 1 when it did. */
static __always_inline int corrupt_payload(struct __sk_buff *skb, const struct packet *p)
{
	__u32 len = skb->len;
	__u32 off, draw;
	__u8 byte;

	if (!p->payload_off || p->payload_off >= len)
		return 0;
	draw = bpf_get_prandom_u32();
	off = p->payload_off + draw % (len - p->payload_off);
	if (bpf_skb_load_bytes(skb, off, &byte, 1))
		return 0;
	byte ^= 1 << ((draw >> 24) & 7);
	return bpf_skb_store_bytes(skb, off, &byte, 1, 0) == 0;
}

/* Sends a held packet around once more (recirculate engine). */
static __always_inline long lap(void)
{
	return bpf_redirect(ifindex, BPF_F_INGRESS_);
}

static __always_inline void hold(struct __sk_buff *skb, __u64 deadline, __u32 mark)
{
	skb->cb[0] = (__u32)deadline;
	skb->cb[1] = (__u32)(deadline >> 32);
	skb->cb[2] = mark;
	skb->mark = recirc_mark;
}

/*
 * userspace engine: copies the packet and its deadline to the held ring and consumes the original
 * (a redirect to ifindex 0, which names no device: the sender sees it sent, as with STOLEN, which
 * TCX links do not offer; TC_ACT_SHOT would tell TCP its segment was dropped locally). A packet
 * too large to copy, or a GSO one (its copy would exceed the MTU), leaves at once.
 */
static __always_inline int hold_userspace(struct __sk_buff *skb, __u64 deadline, struct jg_stats *stats_v)
{
	__u32 zero = 0;
	__u32 len = skb->len;
	struct held_packet *h;
	struct hold_seq *seq;

	if (len == 0 || len > HOLD_MAX || skb->gso_segs > 1) {
		if (stats_v)
			stats_v->unheld++;
		return TC_ACT_UNSPEC_;
	}
	h = bpf_map_lookup_elem(&held_scratch, &zero);
	seq = bpf_map_lookup_elem(&held_seq, &zero);
	if (!h || !seq)
		return TC_ACT_UNSPEC_;
	if (bpf_skb_load_bytes(skb, 0, h->data, len)) {
		if (stats_v)
			stats_v->unheld++;
		return TC_ACT_UNSPEC_;
	}
	h->departure = deadline;
	h->seq = __sync_fetch_and_add(&seq->next, 1);
	h->len = len;
	h->pad = 0;
	if (bpf_ringbuf_output(&held, h, offsetof(struct held_packet, data) + len, 0)) {
		if (stats_v)
			stats_v->ring_full++;
		return TC_ACT_SHOT_;
	}
	if (stats_v)
		stats_v->handed++;
	return bpf_redirect(0, 0);
}

SEC("tc")
int jg_egress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct jg_stats *stats_v = bpf_map_lookup_elem(&stats, &zero);
	__u64 now;
	int is_duplicate = 0;

	/* The clock is read only where a time is needed: a lap, or a packet that may be held. */
	if (engine == ENGINE_RECIRCULATE && skb->mark == recirc_mark) {
		now = bpf_ktime_get_ns();
		__u64 deadline = ((__u64)skb->cb[1] << 32) | skb->cb[0];

		if (now < deadline) {
			if (stats_v)
				stats_v->laps++;
			return lap();
		}
		skb->mark = skb->cb[2];
		skb->cb[0] = 0;
		skb->cb[1] = 0;
		skb->cb[2] = 0;
		if (stats_v) {
			__u32 b = log2_bucket(now - deadline);

			stats_v->released++;
			stats_v->late_ns += now - deadline;
			if (b < HIST_BUCKETS)
				stats_v->late_hist[b]++;
		}
		return TC_ACT_UNSPEC_;
	}
	if (engine == ENGINE_USERSPACE && skb->mark == release_mark) {
		/* Released by user space when due: leaves untouched (its mark cleared), not counted again. */
		skb->mark = 0;
		return TC_ACT_UNSPEC_;
	}
	if (skb->mark == (recirc_mark ^ 1)) {
		/* A duplicate made below: its own draws (drop, delay, corrupt), not duplicated again, counted only as duplicated. */
		skb->mark = skb->cb[2];
		is_duplicate = 1;
	}
	if (stats_v && !is_duplicate)
		stats_v->packets++;

	struct control *ctl = bpf_map_lookup_elem(&control, &zero);
	if (!ctl)
		return TC_ACT_UNSPEC_;
	__u32 active = ctl->active & 1;
	struct rule_set *set = bpf_map_lookup_elem(&rules, &active);
	if (!set || set->count == 0)
		return TC_ACT_UNSPEC_;

	struct packet p = {};
	if (parse(skb, &p) < 0)
		return TC_ACT_UNSPEC_;

	/*
	 * The first rule is tried in line (most configs have one rule, or a first rule that takes
	 * most packets); the others through bpf_loop, which costs a callback per rule.
	 */
	__u32 idx = 0;
	if (!rule_matches(&set->rules[0], &p)) {
		struct search sr = { .set = set, .p = &p, .idx = MAX_RULES };

		bpf_loop(MAX_RULES - 1, search_rule, &sr, 0);
		idx = sr.idx;
	}
	if (idx >= MAX_RULES)
		return TC_ACT_UNSPEC_;
	struct rule *r = &set->rules[idx];
	struct rule_counters *c = bpf_map_lookup_elem(&counters, &idx);
	if (!c)
		return TC_ACT_UNSPEC_;
	/* Per-rule shared state: only for the features that keep some. */
	struct rule_state *st = NULL;
	if (r->correlation_ppm || r->rate_bytes_per_sec ||
	    (r->action == ACTION_DROP && r->loss_model == LOSS_GILBERT_ELLIOTT))
		st = bpf_map_lookup_elem(&state, &idx);
	if (!is_duplicate)
		c->matched++;

	int sel;
	if (r->action == ACTION_DROP && r->loss_model == LOSS_GILBERT_ELLIOTT)
		sel = ge_lost(r, st);
	else
		sel = selected(r, st);
	if (sel)
		c->selected++;
	if (r->action == ACTION_DROP && sel) {
		c->dropped++;
		return TC_ACT_SHOT_;
	}

	if (!is_duplicate && r->duplicate && chance(r->duplicate)) {
		__u32 mark = skb->mark;

		skb->cb[2] = mark;
		skb->mark = recirc_mark ^ 1;
		if (bpf_clone_redirect(skb, ifindex, 0) == 0)
			c->duplicated++;
		skb->mark = mark;
		skb->cb[2] = 0;
	}
	if (r->corrupt && chance(r->corrupt) && corrupt_payload(skb, &p))
		c->corrupted++;

	__u64 delay = 0;
	if (r->action == ACTION_JITTER && sel)
		delay = uniform(r->min_delay_ns, r->max_delay_ns);
	else if (r->action == ACTION_REORDER && sel)
		delay = r->reorder_delay_ns;
	/* Not delayed, no flow order to keep, no pacing: passes now (deadline == now), no clock needed. */
	if (delay == 0 && !(r->action == ACTION_JITTER && r->keep_order) && !(r->rate_bytes_per_sec && st))
		return TC_ACT_UNSPEC_;
	now = bpf_ktime_get_ns();
	__u64 deadline = now + delay;

	if (r->action == ACTION_JITTER && r->keep_order) {
		/* Never before the flow's previous packet; the previous deadline is at most now + max. */
		p.key.rule = idx;
		__u64 *last = bpf_map_lookup_elem(&flows, &p.key);
		if (last && *last > deadline)
			deadline = *last;
		if (deadline > now) {
			if (last)
				*last = deadline;
			else
				bpf_map_update_elem(&flows, &p.key, &deadline, BPF_ANY);
		}
	}
	if (r->rate_bytes_per_sec && st) {
		__u64 start = st->next_departure > deadline ? st->next_departure : deadline;

		st->next_departure = start + (__u64)skb->len * NSEC / r->rate_bytes_per_sec;
		deadline = start;
	}
	if (deadline <= now)
		return TC_ACT_UNSPEC_;
	if (deadline - now > horizon_ns) {
		c->overlimit++;
		return TC_ACT_SHOT_;
	}
	c->delayed++;
	if (r->action == ACTION_REORDER && sel)
		c->reordered++;
	c->delay_ns += deadline - now;
	__u32 b = log2_bucket(deadline - now);
	if (b < HIST_BUCKETS)
		c->hist[b]++;

	if (engine == ENGINE_RECIRCULATE) {
		hold(skb, deadline, skb->mark);
		return lap();
	}
	if (engine == ENGINE_USERSPACE)
		return hold_userspace(skb, deadline, stats_v);
	if (skb->tstamp < deadline)
		skb->tstamp = deadline;
	/* What the delay was (TEST_RUN reads it back): cb[3] = delay in ns, saturated. */
	skb->cb[3] = deadline - now > 0xFFFFFFFF ? 0xFFFFFFFF : (__u32)(deadline - now);
	return TC_ACT_UNSPEC_;
}

/* Recirculate engine: a held packet arriving on ingress goes back to egress. */
SEC("tc")
int jg_ingress(struct __sk_buff *skb)
{
	if (skb->mark != recirc_mark)
		return TC_ACT_UNSPEC_;
	return bpf_redirect(ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
