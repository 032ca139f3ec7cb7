/* Peer for benchmark #3: lookup/update/delete through raw bpf(2) on a hash map with 10k
 * entries, 8-byte keys, 16-byte values. Prints ns per op for each, "lookup update delete", in
 * wall time on the first line and in CPU time on the second. */
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wall time, and the process's CPU time (user + system: what the ops cost when another process
 * takes the CPU away meanwhile, as it does on shared machines). */
static long long now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static long long cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

static long sys_bpf(int cmd, union bpf_attr *attr, unsigned int size)
{
	return syscall(__NR_bpf, cmd, attr, size);
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 1000000;
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 8;
	a.value_size = 16;
	a.max_entries = 10000;
	int fd = sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
	if (fd < 0)
		return 1;
	unsigned long long key;
	unsigned char value[16] = { 1 };
	for (key = 0; key < 10000; key++) {
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = (unsigned long)&key;
		a.value = (unsigned long)value;
		sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a));
	}
	long long c0 = cpu_ns(), t0 = now_ns();
	for (long i = 0; i < ops; i++) {
		key = i % 10000;
		memset(&a, 0, 32);
		a.map_fd = fd;
		a.key = (unsigned long)&key;
		a.value = (unsigned long)value;
		if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, 32))
			return 2;
	}
	long long c1 = cpu_ns(), t1 = now_ns();
	for (long i = 0; i < ops; i++) {
		key = i % 10000;
		memset(&a, 0, 32);
		a.map_fd = fd;
		a.key = (unsigned long)&key;
		a.value = (unsigned long)value;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a, 32))
			return 3;
	}
	long long c2 = cpu_ns(), t2 = now_ns();
	for (long i = 0; i < ops; i++) {
		key = i % 10000;
		memset(&a, 0, 32);
		a.map_fd = fd;
		a.key = (unsigned long)&key;
		sys_bpf(BPF_MAP_DELETE_ELEM, &a, 32); /* after the first 10k, these find nothing (ENOENT) */
	}
	long long c3 = cpu_ns(), t3 = now_ns();
	printf("%.1f %.1f %.1f\n", (double)(t1 - t0) / ops, (double)(t2 - t1) / ops, (double)(t3 - t2) / ops);
	printf("%.1f %.1f %.1f\n", (double)(c1 - c0) / ops, (double)(c2 - c1) / ops, (double)(c3 - c2) / ops);
	return 0;
}
