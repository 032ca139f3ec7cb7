/* Peer for benchmark #2: libbpf opens and loads an object; the time spent inside bpf(2) (the
 * kernel's share) is measured by interposing syscall() and is reported separately.
 * Usage: object_load OBJ ROUNDS -> one line per round: "<total ns> <kernel ns>" */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

static long long kernel_ns;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* libbpf calls syscall(__NR_bpf, ...): time those calls, pass everything through. */
long syscall(long number, ...)
{
	static long (*real)(long, ...);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	va_list ap;
	va_start(ap, number);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (number != __NR_bpf)
		return real(number, a, b, c, d, e, f);
	long long t0 = now_ns();
	long r = real(number, a, b, c, d, e, f);
	kernel_ns += now_ns() - t0;
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	libbpf_set_print(NULL);
	int rounds = atoi(argv[2]);
	for (int i = 0; i < rounds; i++) {
		kernel_ns = 0;
		long long t0 = now_ns();
		struct bpf_object *obj = bpf_object__open(argv[1]);
		if (!obj || bpf_object__load(obj))
			return 1;
		long long t1 = now_ns();
		bpf_object__close(obj);
		printf("%lld %lld\n", t1 - t0, kernel_ns);
	}
	return 0;
}
