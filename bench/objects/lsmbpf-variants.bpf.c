// SPDX-License-Identifier: GPL-2.0
/*
 * Bench #13's other ways to attach lsmbpf's signal engine (built at bench time, not shipped):
 * the raw syscall-exit tracepoint, untyped (raw_tp/sys_exit) and typed (tp_btf/sys_exit). Both
 * run at every system call's exit of every task, so each first filters on the syscall number,
 * then makes the engine's decision (judge(), from lsmbpf.bpf.c itself) on the new root.
 * Empty programs beside them: the floor of each attach point.
 */
#include "../../src/programs/lsmbpf/lsmbpf.bpf.c"

/* x86-64 __NR_chroot (the objects are x86-64 only). */
#define NR_CHROOT 161

/* lsmbpf_signal's body, after the tracepoint's own syscall filter. */
static __always_inline int after_chroot(long ret)
{
	if (ret != 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (!in_container(task))
		return 0;
	struct dentry *dentry = task->fs->root.dentry;
	struct super_block *sb = task->fs->root.mnt->mnt_sb;
	__u64 ino;
	__u32 dev;
	identity(dentry, sb, &ino, &dev);
	judge(task, ino, dev, ENGINE_SIGNAL, 0, true);
	return 0;
}

SEC("raw_tp/sys_exit")
int raw_empty(void *ctx)
{
	return 0;
}

/* regs is an untyped pointer here: read through bpf_probe_read_kernel. */
SEC("raw_tp/sys_exit")
int BPF_PROG(raw_guard, struct pt_regs *regs, long ret)
{
	if (BPF_CORE_READ(regs, orig_ax) != NR_CHROOT)
		return 0;
	return after_chroot(ret);
}

SEC("tp_btf/sys_exit")
int btf_empty(void *ctx)
{
	return 0;
}

/* regs is typed (trusted BTF pointer): a direct load. */
SEC("tp_btf/sys_exit")
int BPF_PROG(btf_guard, struct pt_regs *regs, long ret)
{
	if (regs->orig_ax != NR_CHROOT)
		return 0;
	return after_chroot(ret);
}
