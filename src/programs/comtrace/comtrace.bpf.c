// SPDX-License-Identifier: GPL-2.0
/*
 * tsebpf comtrace: TCP connection lifetimes from the sock:inet_sock_set_state tracepoint.
 *
 * One record per connection when it closes: who owned it, its addresses and ports, the bytes
 * each way, how long it lived, and (beyond bcc's tcplife) its smoothed RTT, retransmitted
 * segments and why it closed (FIN, RST sent, RST received, timeout).
 *
 * Per-socket state (birth time, owner) lives with the socket: socket-local storage
 * (BPF_MAP_TYPE_SK_STORAGE) from the tp_btf program, whose argument is a typed struct sock
 * pointer, or — where the kernel cannot do that — an LRU hash keyed by the socket's address,
 * from the plain tracepoint program. User space loads one of the two.
 *
 * The owner is recorded in process context only: connect() (SYN_SENT) for an active open,
 * accept()/accept4() returning the socket for a passive one (syscall exit tracepoints), or the
 * close (FIN_WAIT1, LAST_ACK, an abort by the application) when neither was seen. The final
 * FIN_WAIT2→CLOSE change runs in softirq, where the current task is whoever was interrupted:
 * never used as the owner.
 *
 * Filters (ports, pids, command names, family, minimum duration) are applied here, at close;
 * every closed connection is counted as reported, filtered or lost (the ring had no room).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP_ 6
#define COMM_LEN 16

#define E_PIPE 32
#define E_CONNRESET 104
#define E_TIMEDOUT 110
#define E_CONNREFUSED 111

enum {
	ST_ESTABLISHED = 1,
	ST_SYN_SENT = 2,
	ST_SYN_RECV = 3,
	ST_FIN_WAIT1 = 4,
	ST_FIN_WAIT2 = 5,
	ST_TIME_WAIT = 6,
	ST_CLOSE = 7,
	ST_CLOSE_WAIT = 8,
	ST_LAST_ACK = 9,
	ST_LISTEN = 10,
	ST_CLOSING = 11,
};

/* Who the owner was learnt from (conn_event.owner). */
enum owner_source {
	OWNER_UNKNOWN = 0,
	OWNER_CLOSE = 1,
	OWNER_CONNECT = 2,
	OWNER_ACCEPT = 3,
};

/* Why the connection closed (conn_event.reason). */
enum close_reason {
	REASON_UNKNOWN = 0,
	REASON_FIN = 1,
	REASON_RST_SENT = 2,
	REASON_RST_RECEIVED = 3,
	REASON_TIMEOUT = 4,
	REASON_ERROR = 5,
};

/* conn_event.flags */
enum conn_flags {
	/* This socket sent the SYN (connect). */
	FLAG_ACTIVE = 1,
	/* It reached ESTABLISHED. */
	FLAG_ESTABLISHED = 2,
	/* Our FIN was acknowledged: bytes_acked counts it. */
	FLAG_FIN_ACKED = 4,
	/* The peer's FIN arrived: bytes_received counts it. */
	FLAG_FIN_RECEIVED = 8,
	/* The kernel's BTF has these fields (else the value is absent, not zero). */
	FLAG_HAVE_BYTES = 16,
	FLAG_HAVE_SRTT = 32,
	FLAG_HAVE_RETRANS = 64,
	FLAG_HAVE_REASON = 128,
};

/* Counters (per CPU): every closed TCP connection that had state is reported, filtered or lost. */
enum stat_index {
	STAT_REPORTED = 0,
	STAT_FILTERED = 1,
	STAT_LOST = 2,
	/* Closed without state: opened before comtrace started (or the state table was full). */
	STAT_UNTRACKED = 3,
	STAT_COUNT = 4,
};

/* What is kept per socket while it lives. */
struct sock_state {
	__u64 birth_ns;
	__u32 pid;
	__u8 owner;
	__u8 flags;
	__u8 pad[2];
	char comm[COMM_LEN];
};

/* The task that accept() returned a socket to. */
struct acceptor {
	__u32 pid;
	char comm[COMM_LEN];
};

/* One closed connection. Ports in host order; addresses as on the wire (IPv4 in the first 4 bytes). */
struct conn_event {
	/* CLOCK_MONOTONIC ns: first seen (SYN_SENT or SYN_RECV) and closed. */
	__u64 start_ns;
	__u64 end_ns;
	/* tcp_sock.bytes_acked and bytes_received, raw (SYN and FIN included: see flags). */
	__u64 bytes_acked;
	__u64 bytes_received;
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 pid;
	/* Smoothed RTT in microseconds. */
	__u32 srtt_us;
	/* Retransmitted segments (tcp_sock.total_retrans). */
	__u32 retrans;
	/* sk_err at close (0: none). */
	__s32 sk_err;
	__u16 lport;
	__u16 rport;
	__u16 flags;
	/* 4 or 6 (IPv4-mapped IPv6 connections are 4). */
	__u8 family;
	__u8 owner;
	__u8 oldstate;
	__u8 reason;
	__u8 pad[6];
	char comm[COMM_LEN];
};

struct comm_key {
	char comm[COMM_LEN];
};

/* Keeps struct conn_event in BTF for `tsebpf gen` (clang records only the types something uses). */
struct conn_event *conn_event_type __attribute__((unused));
enum owner_source *owner_source_type __attribute__((unused));
enum close_reason *close_reason_type __attribute__((unused));
enum conn_flags *conn_flags_type __attribute__((unused));
enum stat_index *stat_index_type __attribute__((unused));

/* Set before load (read-only: the verifier sees constants and drops the branches not taken). */
volatile const __u8 use_ringbuf = 1;
/* 0: both families; AF_INET or AF_INET6: only that one. */
volatile const __u16 family_filter = 0;
volatile const __u8 filter_lport = 0;
volatile const __u8 filter_rport = 0;
volatile const __u8 filter_pid = 0;
volatile const __u8 filter_comm = 0;
/* Connections shorter than this are filtered (0: none). */
volatile const __u64 min_ns = 0;
/*
 * Ring buffer wake-up policy. 0: the kernel's default (the reader is woken for each record it
 * is waiting for). Otherwise at most one wake-up per wakeup_ns, plus one whenever wakeup_bytes
 * are waiting: a busy machine wakes the reader ~1/wakeup_ns times a second, not once per
 * connection; the records in between are read by the reader's own short timer (user space).
 */
volatile const __u64 wakeup_ns = 0;
volatile const __u64 wakeup_bytes = 0;
/* When a record last woke the reader (racy across CPUs: a wake-up more or less). */
__u64 last_wakeup_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sk_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_state);
} sock_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct acceptor);
} acceptors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events_perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} lports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} rports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct comm_key);
	__type(value, __u8);
} comms SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &index);
	if (n)
		*n += 1;
}

/* The current task as the owner (call only in process context). */
static __always_inline void own(struct sock_state *st, __u8 source)
{
	st->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&st->comm, sizeof(st->comm));
	st->owner = source;
}

/* A state change that starts a connection's life (or one we first see while it opens). */
static __always_inline int opening(int newstate)
{
	return newstate == ST_SYN_SENT || newstate == ST_SYN_RECV || newstate == ST_ESTABLISHED;
}

/*
 * The changes anything is done for: opening (birth, the connect()er as owner, ESTABLISHED),
 * FIN_WAIT1 and LAST_ACK (the closer as owner), CLOSE (the record). FIN_WAIT2, CLOSE_WAIT,
 * CLOSING and TIME_WAIT return before any map is touched, and so does LISTEN (either way).
 */
#define WANTED_STATES ((1u << ST_SYN_SENT) | (1u << ST_SYN_RECV) | (1u << ST_ESTABLISHED) | (1u << ST_FIN_WAIT1) | (1u << ST_LAST_ACK) | (1u << ST_CLOSE))

static __always_inline int wanted(int oldstate, int newstate)
{
	return (unsigned int)newstate < 32 && ((1u << newstate) & WANTED_STATES) && oldstate != ST_LISTEN;
}

static __always_inline int is_v4_mapped(const __u8 *a)
{
	__u32 w0, w1, w2;
	__builtin_memcpy(&w0, a, 4);
	__builtin_memcpy(&w1, a + 4, 4);
	__builtin_memcpy(&w2, a + 8, 4);
	return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff);
}

static __always_inline __u8 close_reason(int oldstate, int err)
{
	if (err == E_CONNRESET || err == E_PIPE || err == E_CONNREFUSED)
		return REASON_RST_RECEIVED;
	if (err == E_TIMEDOUT)
		return REASON_TIMEOUT;
	if (err != 0)
		return REASON_ERROR;
	if (oldstate == ST_FIN_WAIT2 || oldstate == ST_LAST_ACK || oldstate == ST_CLOSING || oldstate == ST_TIME_WAIT)
		return REASON_FIN;
	/* ESTABLISHED, CLOSE_WAIT, FIN_WAIT1, SYN_* straight to CLOSE with no error: aborted here. */
	return REASON_RST_SENT;
}

/* bpf_ringbuf_output's flags under the wake-up policy (wakeup_ns). */
static __always_inline __u64 ring_flags(__u64 now)
{
	if (!wakeup_ns)
		return 0;
	if (now - last_wakeup_ns >= wakeup_ns || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		last_wakeup_ns = now;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

/* Whether the in-kernel filters drop this connection. */
static __always_inline int filtered(struct conn_event *e)
{
	if (family_filter && family_filter != (e->family == 4 ? AF_INET : AF_INET6))
		return 1;
	if (filter_lport && !bpf_map_lookup_elem(&lports, &e->lport))
		return 1;
	if (filter_rport && !bpf_map_lookup_elem(&rports, &e->rport))
		return 1;
	if (filter_pid && !bpf_map_lookup_elem(&pids, &e->pid))
		return 1;
	if (filter_comm) {
		struct comm_key k = {};
		__builtin_memcpy(k.comm, e->comm, COMM_LEN);
		if (!bpf_map_lookup_elem(&comms, &k))
			return 1;
	}
	if (min_ns && e->end_ns - e->start_ns < min_ns)
		return 1;
	return 0;
}

/*
 * The connection closed: fill the record from the socket (CO-RE reads, each field only where
 * the kernel's BTF has it), apply the filters, send it.
 */
static __always_inline void report(void *ctx, struct sock *sk, struct sock_state *st, int oldstate)
{
	struct conn_event e = {};
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	e.start_ns = st->birth_ns;
	e.end_ns = bpf_ktime_get_ns();
	e.oldstate = oldstate;
	e.flags = st->flags;
	e.pid = st->pid;
	e.owner = st->owner;
	__builtin_memcpy(e.comm, st->comm, COMM_LEN);
	if (st->owner < OWNER_CONNECT) {
		__u64 key = (__u64)sk;
		struct acceptor *a = bpf_map_lookup_elem(&acceptors, &key);
		if (a) {
			e.pid = a->pid;
			__builtin_memcpy(e.comm, a->comm, COMM_LEN);
			e.owner = OWNER_ACCEPT;
			bpf_map_delete_elem(&acceptors, &key);
		}
	}

	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	/* inet_sport, not skc_num: the port is released (skc_num zeroed) before the change to CLOSE. */
	e.lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		e.family = 4;
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 b = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(e.laddr, &a, 4);
		__builtin_memcpy(e.raddr, &b, 4);
	} else {
		e.family = 6;
		BPF_CORE_READ_INTO(&e.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e.raddr, sk, __sk_common.skc_v6_daddr);
		if (is_v4_mapped(e.laddr) && is_v4_mapped(e.raddr)) {
			e.family = 4;
			__builtin_memcpy(e.laddr, e.laddr + 12, 4);
			__builtin_memcpy(e.raddr, e.raddr + 12, 4);
			__builtin_memset(e.laddr + 4, 0, 12);
			__builtin_memset(e.raddr + 4, 0, 12);
		}
	}

	if (bpf_core_field_exists(tp->bytes_acked) && bpf_core_field_exists(tp->bytes_received)) {
		e.bytes_acked = BPF_CORE_READ(tp, bytes_acked);
		e.bytes_received = BPF_CORE_READ(tp, bytes_received);
		e.flags |= FLAG_HAVE_BYTES;
	}
	if (bpf_core_field_exists(tp->srtt_us)) {
		e.srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
		e.flags |= FLAG_HAVE_SRTT;
	}
	if (bpf_core_field_exists(tp->total_retrans)) {
		e.retrans = BPF_CORE_READ(tp, total_retrans);
		e.flags |= FLAG_HAVE_RETRANS;
	}
	if (bpf_core_field_exists(sk->sk_err)) {
		e.sk_err = BPF_CORE_READ(sk, sk_err);
		e.reason = close_reason(oldstate, e.sk_err);
		e.flags |= FLAG_HAVE_REASON;
	}
	/* Our FIN went out (these states are entered by sending it) and all we sent is acknowledged. */
	if ((oldstate == ST_FIN_WAIT1 || oldstate == ST_FIN_WAIT2 || oldstate == ST_CLOSING || oldstate == ST_LAST_ACK) &&
	    BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		e.flags |= FLAG_FIN_ACKED;
	/* tcp_fin() marks the socket done when the peer's FIN arrives. */
	unsigned long skflags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	if (skflags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
		e.flags |= FLAG_FIN_RECEIVED;

	if (filtered(&e)) {
		count(STAT_FILTERED);
		return;
	}
	long err;
	if (use_ringbuf)
		err = bpf_ringbuf_output(&events, &e, sizeof(e), ring_flags(e.end_ns));
	else
		err = bpf_perf_event_output(ctx, &events_perf, BPF_F_CURRENT_CPU, &e, sizeof(e));
	count(err ? STAT_LOST : STAT_REPORTED);
}

/*
 * A state change of a TCP socket whose state (`st`, may be NULL) the caller looked up, or
 * created when `opening(newstate)`. Returns nonzero when the state is to be removed.
 */
static __always_inline int on_change(void *ctx, struct sock *sk, struct sock_state *st, int oldstate, int newstate, int created)
{
	if (!st) {
		if (newstate == ST_CLOSE && oldstate != ST_LISTEN)
			count(STAT_UNTRACKED);
		return 0;
	}
	if (created)
		st->birth_ns = bpf_ktime_get_ns();
	if (newstate == ST_SYN_SENT) {
		st->flags |= FLAG_ACTIVE;
		own(st, OWNER_CONNECT);
	} else if (newstate == ST_ESTABLISHED) {
		st->flags |= FLAG_ESTABLISHED;
	} else if ((newstate == ST_FIN_WAIT1 || newstate == ST_LAST_ACK) && st->owner == OWNER_UNKNOWN) {
		own(st, OWNER_CLOSE); /* close() or shutdown() by the application */
	}
	if (newstate != ST_CLOSE)
		return 0;
	/* Straight to CLOSE with no error from an open state: the application aborted it (linger 0). */
	if (st->owner == OWNER_UNKNOWN && (oldstate == ST_ESTABLISHED || oldstate == ST_CLOSE_WAIT || oldstate == ST_SYN_SENT) &&
	    BPF_CORE_READ(sk, sk_err) == 0)
		own(st, OWNER_CLOSE);
	report(ctx, sk, st, oldstate);
	return 1;
}

/* Socket-local storage: the tp_btf program (a typed struct sock pointer, which sk_storage needs). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(comtrace_btf, const struct sock *csk, int oldstate, int newstate)
{
	struct sock *sk = (struct sock *)csk;
	if (!wanted(oldstate, newstate) || sk->sk_protocol != IPPROTO_TCP_)
		return 0;
	/* One call: found, or (opening) made zeroed — a zero birth time is a state just made. */
	struct sock_state *st = bpf_sk_storage_get(&sk_state, sk, 0, opening(newstate) ? BPF_SK_STORAGE_GET_F_CREATE : 0);
	if (on_change(ctx, sk, st, oldstate, newstate, st && st->birth_ns == 0))
		bpf_sk_storage_delete(&sk_state, sk);
	return 0;
}

/* sock:inet_sock_set_state, as tracefs describes it. */
struct set_state_args {
	__u64 common;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

/* An LRU hash keyed by the socket's address: the plain tracepoint program (not loaded by default). */
SEC("?tracepoint/sock/inet_sock_set_state")
int comtrace_tp(struct set_state_args *args)
{
	int oldstate = args->oldstate, newstate = args->newstate;
	if (!wanted(oldstate, newstate) || args->protocol != IPPROTO_TCP_)
		return 0;
	__u64 key = (__u64)args->skaddr;
	struct sock_state *st = bpf_map_lookup_elem(&sock_states, &key);
	int created = 0;
	if (!st && opening(newstate)) {
		struct sock_state zero = {};
		bpf_map_update_elem(&sock_states, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&sock_states, &key);
		created = 1;
	}
	if (on_change(args, (struct sock *)args->skaddr, st, oldstate, newstate, created))
		bpf_map_delete_elem(&sock_states, &key);
	return 0;
}

/* syscalls:sys_exit_accept4 and sys_exit_accept, as tracefs describes them. */
struct sys_exit_args {
	__u64 common;
	int syscall_nr;
	long ret;
};

/* accept() returned a TCP socket to the current task: remember the task as its owner. */
static __always_inline int accepted(long fd)
{
	if (fd < 0)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return 0;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP_)
		return 0;
	__u64 key = (__u64)sk;
	struct acceptor a = { .pid = bpf_get_current_pid_tgid() >> 32 };
	bpf_get_current_comm(&a.comm, sizeof(a.comm));
	bpf_map_update_elem(&acceptors, &key, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int comtrace_accept4(struct sys_exit_args *args)
{
	return accepted(args->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int comtrace_accept(struct sys_exit_args *args)
{
	return accepted(args->ret);
}

char LICENSE[] SEC("license") = "GPL";
