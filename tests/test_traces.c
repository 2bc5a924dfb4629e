/* SPDX-License-Identifier: MIT */
/*
 * Real traffic: every pcap of the full traces in ../shared/traces when they
 * are beside the repository, else the 1,000-packet cuts bundled in
 * examples/, replayed in bursts of 64. Each burst must come back whole, in
 * flow order, with kernel-valid superpackets (tu_flush checks), and the
 * number of writes must be exactly the greedy reference's.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BATCH 64

/*
 * Writes of the greedy reference at batch 64, as tests/greedy_reference.py
 * computes them: for the full 6,000-packet traces (when they are beside the
 * repository) and for the 1,000-packet cuts bundled in examples/.
 */
static const struct {
	const char *name;
	long full, bundled; /* -1: no such file */
} ref[] = {
	{"tcp4_bulk.pcap", 249, 43},	{"tcp4_4flows.pcap", 249, -1}, {"tcp6_bulk.pcap", 256, -1},
	{"tcp4_bidir.pcap", 4822, 971}, {"udp4_fixed.pcap", 188, 31},  {"udp6_fixed.pcap", 187, -1},
	{"mixed.pcap", 1578, 91},
};

static char dir[1024];
static char *files[64];
static size_t nfiles;

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t find_pcaps(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;

	if (!dp)
		return 0;
	snprintf(dir, sizeof(dir), "%s", d);
	while ((e = readdir(dp)) && nfiles < sizeof(files) / sizeof(files[0])) {
		size_t n = strlen(e->d_name);
		if (n > 5 && !strcmp(e->d_name + n - 5, ".pcap"))
			files[nfiles++] = strdup(e->d_name);
	}
	closedir(dp);
	qsort(files, nfiles, sizeof(files[0]), by_name);
	return nfiles;
}

static long reference(const char *name)
{
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
		if (!strcmp(ref[i].name, name))
			return strcmp(dir, TB_TRACES_DIR) ? ref[i].bundled : ref[i].full;
	return -1;
}

static void replay(void **state)
{
	const char *name = *state;
	char path[2048], err[256];
	struct tu_trace t;
	struct tu_h *h;
	struct tb_stats st;
	long want = reference(name);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (tu_trace_load(path, &t, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	assert_true(t.n > 0);
	h = tu_new(TB_CAP_TSO | TB_CAP_USO, NULL, 0);
	for (size_t i = 0; i < t.n; i += BATCH) {
		tu_context("%s packets %zu..", name, i);
		for (size_t k = i; k < i + BATCH && k < t.n; k++)
			tu_add_bytes(h, t.pkts[k].data, t.pkts[k].len);
		assert_int_equal(tu_flush(h), 0);
	}
	tu_context("%s", "");
	tb_coalescer_stats(h->co, &st);
	assert_int_equal(st.pkts_in, t.n);
	printf("%-18s packets %6zu  writes %5llu  superpackets %4llu  ratio %6.2f", name, t.n,
	       (unsigned long long)st.writes, (unsigned long long)st.superpackets,
	       (double)t.n / (double)st.writes);
	if (want >= 0) {
		printf("  reference %5ld\n", want);
		if ((long)st.writes != want)
			fail_msg("%s: %llu writes, the greedy reference makes %ld", name,
				 (unsigned long long)st.writes, want);
	} else {
		printf("  (no reference)\n");
	}
	printf("%-18s why:", "");
	for (int w = 0; w < TB_WHY_COUNT; w++)
		if (st.why[w])
			printf(" %s=%llu", tb_why_name((enum tb_why)w),
			       (unsigned long long)st.why[w]);
	printf("\n");
	tu_free(h);
	tu_trace_free(&t);
}

int main(void)
{
	struct stat sb;
	struct CMUnitTest tests[64];
	int rc;

	if (stat(TB_TRACES_DIR, &sb) == 0 && S_ISDIR(sb.st_mode))
		find_pcaps(TB_TRACES_DIR);
	if (!nfiles)
		find_pcaps(TB_EXAMPLES_DIR);
	if (!nfiles) {
		printf("no pcap in %s or %s\n", TB_TRACES_DIR, TB_EXAMPLES_DIR);
		return 1; /* the repository bundles some: this is a broken checkout */
	}
	printf("replaying %zu traces from %s in bursts of %d\n", nfiles, dir, BATCH);
	for (size_t i = 0; i < nfiles; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = files[i];
		tests[i].test_func = replay;
		tests[i].initial_state = files[i];
	}
	rc = _cmocka_run_group_tests("traces", tests, nfiles, NULL, NULL);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	return rc;
}
