/* Peer for benchmark #11: reading elements of an array map (1024 entries, 4-byte values,
 * BPF_F_MMAPABLE) with libbpf's bpf_map_lookup_elem (one bpf(2) per read), and through the
 * map's mmapped memory (a plain load, what a libbpf skeleton's skel->bss gives). Prints ns per
 * read, "lookup mmap", in wall time on the first line and CPU time on the second.
 * Usage: map_memory LOOKUPS READS */
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define ENTRIES 1024

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long lookups = argc > 1 ? atol(argv[1]) : 1000000;
	long reads = argc > 2 ? atol(argv[2]) : 100000000;
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_mem", 4, 4, ENTRIES, &opts);
	if (fd < 0)
		return 1;
	/* Elements are 8 bytes apart (value size rounded up to 8): element i is word 2 * i. */
	volatile unsigned *values = mmap(NULL, 4096 * 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (values == MAP_FAILED)
		return 2;
	for (unsigned i = 0; i < ENTRIES; i++)
		values[2 * i] = i;
	unsigned long long sum = 0;
	unsigned value;
	long long c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < lookups; i++) {
		unsigned key = i % ENTRIES;
		if (bpf_map_lookup_elem(fd, &key, &value))
			return 3;
		sum += value;
	}
	long long c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t1 = clock_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < reads; i++)
		sum += values[2 * (i % ENTRIES)];
	long long c2 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t2 = clock_ns(CLOCK_MONOTONIC);
	printf("%.2f %.3f\n%.2f %.3f\n", (double)(t1 - t0) / lookups, (double)(t2 - t1) / reads, (double)(c1 - c0) / lookups, (double)(c2 - c1) / reads);
	fprintf(stderr, "sum %llu\n", sum);
	return 0;
}
