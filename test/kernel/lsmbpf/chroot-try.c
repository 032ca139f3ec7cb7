// SPDX-License-Identifier: GPL-2.0
/*
 * The lsmbpf tests' chroot caller, compiled at test time (node has no chroot).
 *
 *   chroot-try TARGET [thread] fork a child that chroots into TARGET (from a second thread with
 *                              `thread`), writes "escaped" to its parent and exits 0 (or 4 on
 *                              EPERM, 2 on another error); print one JSON line: the child's host
 *                              pid (/proc is the host's), its pid as it sees itself, its PID
 *                              namespace, whether it ran on after the chroot (escaped), and how
 *                              it ended (exit code or signal).
 *   chroot-try JAIL escape     like TARGET, but the classic way out of a chroot: chroot(JAIL),
 *                              mkdir and chroot into a subdirectory while the working directory
 *                              stays above it, chdir("..") up to the real root, chroot(".").
 *   chroot-try TARGET loop N   chroot N times in this process (after chdir(TARGET), each call is
 *                              chroot(".")), print the CPU ns per call (this thread's CPU time: the
 *                              kernel's work in the call included, other load left out). No fork.
 *   chroot-try - getppid N     getppid() N times, print the CPU ns per call (what any other
 *                              system call pays while a syscall tracepoint is enabled).
 * CGROUP_PROCS=/path/cgroup.procs moves the process into that cgroup first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *target;

/* Out of a chroot jail (no user namespace tricks: only CAP_SYS_CHROOT). 0 or the errno. */
static int escape(const char *jail)
{
	if (chroot(jail) || chdir("/"))
		return errno;
	if (mkdir("esc", 0700) && errno != EEXIST)
		return errno;
	if (chroot("esc"))
		return errno;
	for (int i = 0; i < 64; i++)
		if (chdir(".."))
			return errno;
	return chroot(".") ? errno : 0;
}

static void *chroot_thread(void *arg)
{
	(void)arg;
	return (void *)(long)(chroot(target) ? errno : 0);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 64;
	const char *procs = getenv("CGROUP_PROCS");
	if (procs) {
		int fd = open(procs, O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			perror(procs);
			return 3;
		}
		close(fd);
	}
	if (argc >= 4 && strcmp(argv[2], "getppid") == 0) {
		long n = atol(argv[3]);
		struct timespec a, b;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
		printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[2], "loop") == 0) {
		long n = atol(argv[3]);
		if (chdir(argv[1])) {
			perror("chdir");
			return 2;
		}
		struct timespec a, b;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
		for (long i = 0; i < n; i++)
			if (chroot(".")) {
				perror("chroot");
				return 2;
			}
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
		printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n);
		return 0;
	}
	int p[2];
	if (pipe(p))
		return 3;
	pid_t child = fork();
	if (child < 0)
		return 3;
	if (child == 0) {
		char self[64] = { 0 }, ns[64] = { 0 };
		if (readlink("/proc/self", self, sizeof(self) - 1) < 0)
			strcpy(self, "0");
		if (readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1) < 0)
			strcpy(ns, "?");
		dprintf(p[1], "%s %d %s\n", self, (int)getpid(), ns);
		target = argv[1];
		int err;
		if (argc >= 3 && strcmp(argv[2], "thread") == 0) {
			pthread_t t;
			void *ret;
			if (pthread_create(&t, 0, chroot_thread, 0) || pthread_join(t, &ret))
				_exit(3);
			err = (int)(long)ret;
		} else if (argc >= 3 && strcmp(argv[2], "escape") == 0) {
			err = escape(target);
		} else {
			err = chroot(target) ? errno : 0;
		}
		if (err)
			_exit(err == EPERM ? 4 : 2);
		/* Only reached when the process runs on after a successful chroot. */
		if (write(p[1], "escaped\n", 8) != 8)
			_exit(5);
		_exit(0);
	}
	close(p[1]);
	char buf[256] = { 0 };
	size_t have = 0;
	for (ssize_t got; have < sizeof(buf) - 1 && (got = read(p[0], buf + have, sizeof(buf) - 1 - have)) > 0;)
		have += got;
	int status = 0;
	waitpid(child, &status, 0);
	char hostpid[64] = { 0 }, ns[128] = { 0 };
	int nspid = 0;
	sscanf(buf, "%63s %d %127s", hostpid, &nspid, ns);
	printf("{\"hostPid\":%s,\"nsPid\":%d,\"pidNs\":\"%s\",\"escaped\":%s,\"exit\":%d,\"signal\":%d}\n", hostpid, nspid, ns,
	       strstr(buf, "escaped") ? "true" : "false", WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return 0;
}
