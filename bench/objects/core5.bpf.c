// Benchmark #2 object: five programs with CO-RE reads of kernel structs, a few maps.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct pid { unsigned int level; } __attribute__((preserve_access_index));
struct task_struct {
	int pid;
	int tgid;
	struct pid *thread_pid;
	char comm[16];
	unsigned int flags;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

const volatile __u32 filter_pid = 0;
__u64 counter = 0;

static __always_inline void note(__u32 k, __u64 v)
{
	bpf_map_update_elem(&seen, &k, &v, BPF_ANY);
	__sync_fetch_and_add(&counter, 1);
}

#define PROG(name, expr)                                   \
	SEC("syscall") int name(void *ctx)                    \
	{                                                      \
		struct task_struct *t = bpf_get_current_task_btf(); \
		if (filter_pid && BPF_CORE_READ(t, tgid) != filter_pid) \
			return 0;                                  \
		note(__LINE__, (__u64)(expr));                     \
		return 0;                                          \
	}

PROG(read_pid, BPF_CORE_READ(t, pid))
PROG(read_tgid, BPF_CORE_READ(t, tgid))
PROG(read_level, BPF_CORE_READ(t, thread_pid, level))
PROG(read_flags, BPF_CORE_READ(t, flags))
PROG(read_parent, BPF_CORE_READ(t, real_parent, tgid))

char LICENSE[] SEC("license") = "GPL";
