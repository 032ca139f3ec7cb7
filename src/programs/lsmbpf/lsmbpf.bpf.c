// SPDX-License-Identifier: GPL-2.0
/*
 * tsebpf lsmbpf: a chroot guard for containers.
 *
 * A process in a container (a PID namespace other than the host's: its struct pid's level > 0)
 * must not make the host's root filesystem its root. What "the host's root" is, is decided by
 * identity, never by a path string: the device (super_block.s_dev) and inode number of the
 * directory, compared with those of the host init's fs->root. The host init is the child reaper
 * of the initial PID namespace, reached from any task as thread_pid->numbers[0].ns->child_reaper
 * (init_task's ksym is not needed, and not in every kernel's BTF). So "/", "//", "/./..", a
 * symlink to "/" and a bind mount of "/" are all the same target.
 *
 * Two engines, one decision (judge() below):
 * - lsm: an LSM program on path_chroot sees the target path before the chroot happens and
 *   returns -EPERM (enforce) or 0. Needs BPF LSM active (lsm=...,bpf) and a kernel that loads
 *   trampoline programs.
 * - signal: a tracepoint on the chroot syscall's exit (sys_exit_chroot) looks at the root the
 *   process has just got (task->fs->root) and, when it is the host's, sends SIGKILL with
 *   bpf_send_signal: the process dies before it returns to user space (the chroot itself did
 *   happen). The path it passed is read from its saved registers, for the event only.
 *
 * Host processes (level 0) are never judged. Allow-lists: command names, and cgroups (v2 ids;
 * the cgroup or any ancestor). Every denial, kill or would-be denial (audit mode) is an event on
 * the ring buffer and is counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define COMM_LEN 16
#define TARGET_LEN 128
#define E_PERM 1
#define SIG_KILL 9
/* Ancestors checked against the cgroup allow-list (cgroup v2 depth). */
#define MAX_CGROUP_DEPTH 16

/* Which engine produced an event (chroot_event.engine). */
enum guard_engine {
	ENGINE_LSM = 1,
	ENGINE_SIGNAL = 2,
};

/* What happened to the process (chroot_event.action). */
enum guard_action {
	/* lsm, enforce: the chroot failed with EPERM. */
	ACTION_DENIED = 1,
	/* signal, enforce: SIGKILL sent right after the chroot. */
	ACTION_KILLED = 2,
	/* audit mode: reported only. */
	ACTION_AUDITED = 3,
	/* signal, enforce: bpf_send_signal failed (chroot_event.error says why). */
	ACTION_KILL_FAILED = 4,
};

/* Per-CPU counters. */
enum stat_index {
	/* Chroots by containerized processes that were examined (signal: those that succeeded). */
	STAT_CONTAINER_CHROOTS = 0,
	/* Of those, into the host's root. */
	STAT_HOST_ROOT = 1,
	STAT_DENIED = 2,
	STAT_KILLED = 3,
	STAT_AUDITED = 4,
	STAT_KILL_FAILED = 5,
	/* Into the host's root but allowed by the command-name or cgroup allow-list. */
	STAT_ALLOWED_COMM = 6,
	STAT_ALLOWED_CGROUP = 7,
	/* The ring buffer had no room for the event (the decision was still made). */
	STAT_LOST = 8,
	STAT_COUNT = 9,
};

/* One denial, kill or would-be denial. */
struct chroot_event {
	/* CLOCK_MONOTONIC ns. */
	__u64 time_ns;
	/* cgroup v2 id of the process. */
	__u64 cgroup_id;
	/* The target's inode number and device (kernel dev_t: major << 20 | minor). */
	__u64 root_ino;
	__u32 root_dev;
	/* Process (thread group) id and thread id as the host sees them. */
	__u32 pid;
	__u32 tid;
	/* The process's pid inside its own PID namespace. */
	__u32 ns_pid;
	/* The PID namespace's inode number (ls -l /proc/PID/ns/pid). */
	__u32 pidns_ino;
	/* bpf_send_signal's result (signal engine; 0: sent). */
	__s32 error;
	__u8 engine;
	__u8 action;
	__u8 pad[6];
	char comm[COMM_LEN];
	/* The path the caller gave (signal) or the target dentry's name (lsm), truncated. */
	char target[TARGET_LEN];
};

struct comm_key {
	char comm[COMM_LEN];
};

/* Keeps these types in BTF for `tsebpf gen`. */
struct chroot_event *chroot_event_type __attribute__((unused));
enum guard_engine *guard_engine_type __attribute__((unused));
enum guard_action *guard_action_type __attribute__((unused));
enum stat_index *stat_index_type __attribute__((unused));

/* 0: enforce, 1: audit. In .bss: a reload switches it in place. */
volatile __u32 audit_mode = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct comm_key);
	__type(value, __u8);
} allow_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} allow_cgroups SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &index);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * The task and the kernel objects below are read directly through their BTF types (the
 * verifier makes each load a fault-safe PROBE_MEM load, relocated by CO-RE): a few ns each,
 * where a bpf_probe_read_kernel call costs tens. This runs on every chroot.
 */

/* Whether the task is outside the initial PID namespace. */
static __always_inline bool in_container(struct task_struct *task)
{
	return task->thread_pid->level > 0;
}

/* The directory's identity: inode number and device. */
static __always_inline void identity(struct dentry *dentry, struct super_block *sb, __u64 *ino, __u32 *dev)
{
	*ino = dentry->d_inode->i_ino;
	*dev = sb->s_dev;
}

/* Whether (dev, ino) is the host's root: the initial PID namespace's init's fs->root. */
static __always_inline bool is_host_root(struct task_struct *task, __u64 ino, __u32 dev)
{
	struct task_struct *init = task->thread_pid->numbers[0].ns->child_reaper;
	if (!init)
		return false;
	struct dentry *root = init->fs->root.dentry;
	struct super_block *sb = init->fs->root.mnt->mnt_sb;
	if (!root || !sb)
		return false;
	__u64 host_ino;
	__u32 host_dev;
	identity(root, sb, &host_ino, &host_dev);
	return ino == host_ino && dev == host_dev;
}

/* Whether the allow-lists let the current task through; counts which one did. */
static __always_inline bool allowed(const char *comm)
{
	if (bpf_map_lookup_elem(&allow_comms, comm)) {
		count(STAT_ALLOWED_COMM);
		return true;
	}
	for (int i = 0; i < MAX_CGROUP_DEPTH; i++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(i);
		if (!id)
			break;
		if (bpf_map_lookup_elem(&allow_cgroups, &id)) {
			count(STAT_ALLOWED_CGROUP);
			return true;
		}
	}
	return false;
}

/* The process's pid and PID namespace as it sees them: its leader's numbers[level]. */
static __always_inline void own_namespace(struct task_struct *task, __u32 *ns_pid, __u32 *ns_ino)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	if (level > 32)
		level = 32;
	struct upid up = {};
	void *at = (void *)pid + bpf_core_field_offset(struct pid, numbers) + level * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&up, sizeof(up), at);
	*ns_pid = up.nr;
	*ns_ino = BPF_CORE_READ(up.ns, ns.inum);
}

/*
 * The path the caller passed: the syscall's first argument, still in its saved user registers
 * (x86-64: di). Only read for an event; absent where the registers have no such field.
 */
static __always_inline const char *chroot_argument(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs || !bpf_core_field_exists(regs->di))
		return 0;
	return (const char *)BPF_CORE_READ(regs, di);
}

/*
 * The decision both engines share, for a containerized task whose chroot target (lsm) or new
 * root (signal) is (dev, ino): 0 to let it be, else the action to take. Reports the event.
 */
static __always_inline int judge(struct task_struct *task, __u64 ino, __u32 dev, __u8 engine, const char *target, bool user_target)
{
	count(STAT_CONTAINER_CHROOTS);
	if (!is_host_root(task, ino, dev))
		return 0;
	count(STAT_HOST_ROOT);
	struct comm_key key = {};
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	if (allowed(key.comm))
		return 0;
	__u8 action = audit_mode ? ACTION_AUDITED : engine == ENGINE_LSM ? ACTION_DENIED : ACTION_KILLED;
	__s32 error = 0;
	if (action == ACTION_KILLED) {
		error = bpf_send_signal(SIG_KILL);
		if (error)
			action = ACTION_KILL_FAILED;
	}
	count(action == ACTION_DENIED ? STAT_DENIED : action == ACTION_KILLED ? STAT_KILLED : action == ACTION_AUDITED ? STAT_AUDITED : STAT_KILL_FAILED);

	struct chroot_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(STAT_LOST);
		return action;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->time_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->root_ino = ino;
	e->root_dev = dev;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	own_namespace(task, &e->ns_pid, &e->pidns_ino);
	e->error = error;
	e->engine = engine;
	e->action = action;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memcpy(e->comm, key.comm, COMM_LEN);
	e->target[0] = 0;
	if (user_target)
		target = chroot_argument();
	if (target) {
		if (user_target)
			bpf_probe_read_user_str(e->target, sizeof(e->target), target);
		else
			bpf_probe_read_kernel_str(e->target, sizeof(e->target), target);
	}
	bpf_ringbuf_submit(e, 0);
	return action;
}

/* ---------------------------------------------------------------------------------------- */
/* lsm engine */

SEC("lsm/path_chroot")
int BPF_PROG(lsmbpf_lsm, const struct path *path, int ret)
{
	if (ret)
		return ret;
	struct task_struct *task = bpf_get_current_task_btf();
	if (!in_container(task))
		return 0;
	struct dentry *dentry = path->dentry;
	struct super_block *sb = path->mnt->mnt_sb;
	__u64 ino;
	__u32 dev;
	identity(dentry, sb, &ino, &dev);
	const char *name = (const char *)dentry->d_name.name;
	int action = judge(task, ino, dev, ENGINE_LSM, name, false);
	return action == ACTION_DENIED ? -E_PERM : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* signal engine */

/* syscalls:sys_exit_chroot, as tracefs describes it. */
struct sys_exit_args {
	__u64 common;
	int syscall_nr;
	long ret;
};

SEC("tracepoint/syscalls/sys_exit_chroot")
int lsmbpf_signal(struct sys_exit_args *args)
{
	/* Failed chroots change nothing; host processes are never judged. */
	if (args->ret != 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (!in_container(task))
		return 0;
	/* The root it now has. */
	struct dentry *dentry = task->fs->root.dentry;
	struct super_block *sb = task->fs->root.mnt->mnt_sb;
	__u64 ino;
	__u32 dev;
	identity(dentry, sb, &ino, &dev);
	judge(task, ino, dev, ENGINE_SIGNAL, 0, true);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
