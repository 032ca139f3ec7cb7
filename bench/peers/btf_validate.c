/* Peer for benchmark #1v: libbpf parses the kernel BTF, then every type is checked: its name and
 * every member, value and parameter name is a valid string offset, and every type id it refers to
 * exists. libbpf 1.2+ does this inside btf__parse (btf_sanity_check); Debian 12's libbpf 1.1 does
 * not, so the same checks are made here through libbpf's public API, on both versions alike.
 * Usage: btf_validate BTF_FILE ROUNDS -> one line per round: "<parse ns> <parse + checks ns>" */
#include <bpf/btf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* 0 when every string offset and type id of every type is valid, else the bad type's id. */
static unsigned int check_all(const struct btf *btf)
{
	unsigned int count = btf__type_cnt(btf);
#define STR_OK(off) (btf__str_by_offset(btf, (off)) != NULL)
#define ID_OK(ref) ((ref) < count)
	for (unsigned int id = 1; id < count; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		unsigned int n = btf_vlen(t);
		int ok = t && STR_OK(t->name_off);

		switch (btf_kind(t)) {
		case BTF_KIND_INT:
		case BTF_KIND_FLOAT:
		case BTF_KIND_FWD:
			break;
		case BTF_KIND_PTR:
		case BTF_KIND_TYPEDEF:
		case BTF_KIND_VOLATILE:
		case BTF_KIND_CONST:
		case BTF_KIND_RESTRICT:
		case BTF_KIND_TYPE_TAG:
		case BTF_KIND_FUNC:
		case BTF_KIND_VAR:
		case BTF_KIND_DECL_TAG:
			ok = ok && ID_OK(t->type);
			break;
		case BTF_KIND_ARRAY: {
			const struct btf_array *a = btf_array(t);
			ok = ok && ID_OK(a->type) && ID_OK(a->index_type);
			break;
		}
		case BTF_KIND_STRUCT:
		case BTF_KIND_UNION: {
			const struct btf_member *m = btf_members(t);
			for (unsigned int i = 0; ok && i < n; i++, m++)
				ok = STR_OK(m->name_off) && ID_OK(m->type);
			break;
		}
		case BTF_KIND_ENUM: {
			const struct btf_enum *e = btf_enum(t);
			for (unsigned int i = 0; ok && i < n; i++, e++)
				ok = STR_OK(e->name_off);
			break;
		}
		case BTF_KIND_ENUM64: {
			const struct btf_enum64 *e = btf_enum64(t);
			for (unsigned int i = 0; ok && i < n; i++, e++)
				ok = STR_OK(e->name_off);
			break;
		}
		case BTF_KIND_FUNC_PROTO: {
			const struct btf_param *p = btf_params(t);
			ok = ok && ID_OK(t->type);
			for (unsigned int i = 0; ok && i < n; i++, p++)
				ok = STR_OK(p->name_off) && ID_OK(p->type);
			break;
		}
		case BTF_KIND_DATASEC: {
			const struct btf_var_secinfo *v = btf_var_secinfos(t);
			for (unsigned int i = 0; ok && i < n; i++, v++)
				ok = ID_OK(v->type);
			break;
		}
		default:
			ok = 0;
		}
		if (!ok)
			return id;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int rounds = atoi(argv[2]);
	for (int r = 0; r < rounds; r++) {
		long long t0 = now_ns();
		struct btf *btf = btf__parse(argv[1], NULL);
		if (!btf)
			return 1;
		long long t1 = now_ns();
		unsigned int bad = check_all(btf);
		long long t2 = now_ns();
		btf__free(btf);
		if (bad) {
			fprintf(stderr, "btf_validate: type %u is not valid\n", bad);
			return 3;
		}
		printf("%lld %lld\n", t1 - t0, t2 - t0);
	}
	return 0;
}
