/* Peer for benchmark #5: libbpf's ring buffer consumer (ring_buffer__new + ring_buffer__consume)
 * draining records that a pinned program produces into a pinned ring buffer map, in rounds.
 * Usage: ringbuf_consume MAP_PIN PROG_PIN ROUNDS REPEAT. Only the drains are timed; prints
 * "records seconds". The callback reads each record's first word and adds it and the size to a
 * 32-bit sum, as tsebpf's does. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned int sum;
static unsigned long long records;

static int on_record(void *ctx, void *data, size_t size)
{
	sum += *(unsigned int *)data + size;
	records++;
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 1;
	int map_fd = bpf_obj_get(argv[1]);
	int prog_fd = bpf_obj_get(argv[2]);
	int rounds = atoi(argv[3]);
	int repeat = atoi(argv[4]);
	if (map_fd < 0 || prog_fd < 0)
		return 2;
	struct ring_buffer *rb = ring_buffer__new(map_fd, on_record, NULL, NULL);
	if (!rb)
		return 3;
	ring_buffer__consume(rb); /* whatever an earlier run left */
	records = 0;
	char packet[64] = { 0 };
	double spent = 0;
	for (int r = 0; r < rounds; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet), .repeat = repeat);
		if (bpf_prog_test_run_opts(prog_fd, &opts))
			return 4;
		double t0 = now();
		if (ring_buffer__consume(rb) < 0)
			return 5;
		spent += now() - t0;
	}
	printf("%llu %.6f\n", records, spent);
	fprintf(stderr, "checksum %u\n", sum);
	ring_buffer__free(rb);
	return 0;
}
