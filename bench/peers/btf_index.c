/* Peer for benchmark #1: libbpf parses the kernel BTF and looks up names.
 * Usage: btf_index BTF_FILE NAMES_FILE ROUNDS  -> prints one line per round: "<ns>" */
#include <bpf/btf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	FILE *f = fopen(argv[2], "r");
	if (!f)
		return 2;
	static char names[1000][128];
	static int kinds[1000];
	int n = 0;
	char line[160];
	while (n < 1000 && fgets(line, sizeof(line), f)) {
		/* "<kind>\t<name>\n": names may hold spaces ("long unsigned int") */
		char *tab = strchr(line, '\t');
		if (!tab)
			return 2;
		kinds[n] = atoi(line);
		tab[strcspn(tab, "\n")] = 0;
		snprintf(names[n], sizeof(names[n]), "%s", tab + 1);
		n++;
	}
	fclose(f);
	int rounds = atoi(argv[3]);
	for (int r = 0; r < rounds; r++) {
		long long t0 = now_ns();
		struct btf *btf = btf__parse(argv[1], NULL);
		if (!btf)
			return 1;
		int found = 0;
		for (int i = 0; i < n; i++)
			found += btf__find_by_name_kind(btf, names[i], kinds[i]) > 0;
		long long t1 = now_ns();
		btf__free(btf);
		if (found != n || n == 0)
			return 3;
		printf("%lld\n", t1 - t0);
	}
	return 0;
}
