/* SPDX-License-Identifier: MIT */
/*
 * Ordering (TB_COALESCE_ORDER): whatever order a burst arrives in, the
 * writes are exactly those of the burst committed in key order; equal keys
 * keep their arrival order; an older epoch goes first; without the option
 * the key changes nothing.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXP 1024

struct keyed {
	const uint8_t *pkt;
	size_t len;
	uint64_t epoch, counter;
};

/* A coalescer writing into a capture, created once per test. */
struct rig {
	struct tb_arena *arena;
	struct tb_capture *cap;
	struct tb_coalescer *co;
};

static struct rig rig_new(unsigned flags, unsigned max_pkts)
{
	struct tb_coalescer_opts o = {.flags = flags, .max_pkts = max_pkts};
	struct rig r;

	r.arena = tb_arena_create(0);
	r.cap = tb_capture_create(TU_CAPS);
	assert_non_null(r.arena);
	assert_non_null(r.cap);
	r.co = tb_coalescer_create(tb_capture_writer(r.cap), r.arena, &o);
	assert_non_null(r.co);
	return r;
}

static void rig_free(struct rig *r)
{
	tb_coalescer_destroy(r->co);
	tb_capture_destroy(r->cap);
	tb_arena_destroy(r->arena);
}

/* Commits p[idx[0..n)] with their keys (or plainly when unordered), flushes. */
static void run(struct rig *r, const struct keyed *p, const unsigned *idx, size_t n)
{
	tb_capture_clear(r->cap);
	for (size_t i = 0; i < n; i++) {
		const struct keyed *k = &p[idx ? idx[i] : i];
		assert_int_equal(
			tb_coalescer_commit_key(r->co, k->pkt, k->len, k->epoch, k->counter), 0);
	}
	assert_int_equal(tb_coalescer_flush(r->co), 0);
}

/* Fails unless both captures hold the same writes, byte for byte. */
static void same_writes(const struct tb_capture *a, const struct tb_capture *b, const char *what)
{
	size_t n = tb_capture_count(a);

	if (n != tb_capture_count(b))
		tu_fail("%s: %zu writes, the sorted burst gives %zu", what, n, tb_capture_count(b));
	for (size_t i = 0; i < n; i++) {
		struct tb_vnet_hdr va, vb;
		size_t la, lb;
		const uint8_t *x = tb_capture_get(a, i, &la, &va);
		const uint8_t *y = tb_capture_get(b, i, &lb, &vb);

		if (la != lb || memcmp(&va, &vb, sizeof(va)) || memcmp(x, y, la))
			tu_fail("%s: write %zu differs from the sorted burst's", what, i);
	}
}

/* Packets in key order, built into one static area. */
static uint8_t area[MAXP * 1600];
static struct keyed pk[MAXP];
static size_t npk, used;

static void add(const struct tu_spec *s, uint64_t epoch)
{
	pk[npk].pkt = area + used;
	pk[npk].len = tu_build(s, area + used, sizeof(area) - used);
	pk[npk].epoch = epoch;
	pk[npk].counter = npk;
	used += (pk[npk].len + 15) & ~(size_t)15;
	npk++;
}

static void reset_pk(void)
{
	npk = used = 0;
}

/* Four TCP segments, then two equal UDP datagrams and a ping: 7 packets. */
static void small_burst(int v6)
{
	struct tu_spec t = tu_tcp(v6), u = tu_udp(v6), i = v6 ? tu_icmp6() : tu_icmp4();

	reset_pk();
	for (int k = 0; k < 4; k++, tu_next(&t))
		add(&t, 1);
	add(&u, 1);
	tu_next(&u);
	add(&i, 1);
	add(&u, 1);
}

static int next_perm(unsigned *a, size_t n)
{
	size_t i = n - 1, j = n - 1;

	while (i > 0 && a[i - 1] >= a[i])
		i--;
	if (i == 0)
		return 0;
	while (a[j] <= a[i - 1])
		j--;
	unsigned t = a[i - 1];
	a[i - 1] = a[j];
	a[j] = t;
	for (j = n - 1; i < j; i++, j--) {
		t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
	return 1;
}

/* How many packets arrive below a key that arrived before them. */
static uint64_t displaced_of(const unsigned *idx, size_t n)
{
	uint64_t d = 0;
	unsigned top = 0;

	for (size_t i = 0; i < n; i++) {
		if (i && idx[i] < top)
			d++;
		else
			top = idx[i];
	}
	return d;
}

static void every_permutation(int v6)
{
	struct rig ord = rig_new(TB_COALESCE_ORDER, 0), ref = rig_new(0, 0);
	unsigned idx[8];
	size_t perms = 0;
	char what[64];

	small_burst(v6);
	run(&ref, pk, NULL, npk);
	assert_int_equal(tb_capture_count(ref.cap), 3); /* [tcp x4] [udp x2] ping */
	for (size_t i = 0; i < npk; i++)
		idx[i] = (unsigned)i;
	do {
		struct tb_stats st0, st1;

		tb_coalescer_stats(ord.co, &st0);
		run(&ord, pk, idx, npk);
		tb_coalescer_stats(ord.co, &st1);
		snprintf(what, sizeof(what), "permutation %zu", perms);
		same_writes(ord.cap, ref.cap, what);
		assert_int_equal(st1.displaced - st0.displaced, displaced_of(idx, npk));
		perms++;
	} while (next_perm(idx, npk));
	assert_int_equal(perms, 5040);
	rig_free(&ord);
	rig_free(&ref);
}
TU_BOTH(every_permutation)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void shuffle(unsigned *idx, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rnd() % (i + 1));
		unsigned t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
}

/* Swaps one adjacent pair in every 16 packets. */
static void swap_pairs(unsigned *idx, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 16) {
		size_t j = i + (size_t)(rnd() % 15);
		unsigned t = idx[j];
		idx[j] = idx[j + 1];
		idx[j + 1] = t;
	}
}

/* One packet that arrives far too early: everything after it is displaced. */
static void one_early(unsigned *idx, size_t n)
{
	unsigned t = idx[n - 1];

	memmove(idx + 1, idx, (n - 1) * sizeof(*idx));
	idx[0] = t;
}

/* Bursts of a bundled trace, each disordered three ways. */
static void shuffled_bursts(const char *name, size_t burst)
{
	struct rig ord = rig_new(TB_COALESCE_ORDER, 0), ref = rig_new(0, 0);
	void (*how[])(unsigned *, size_t) = {shuffle, swap_pairs, one_early};
	struct tu_trace t;
	char path[1024], err[256], what[128];
	unsigned idx[MAXP];
	size_t bursts = 0;

	snprintf(path, sizeof(path), "%s/%s", TB_EXAMPLES_DIR, name);
	if (tu_trace_load(path, &t, err, sizeof(err)))
		tu_fail("%s", err);
	for (size_t at = 0; at + burst <= t.n; at += burst, bursts++) {
		for (size_t i = 0; i < burst; i++) {
			pk[i].pkt = t.pkts[at + i].data;
			pk[i].len = t.pkts[at + i].len;
			pk[i].epoch = 7;
			pk[i].counter = 1000 + i;
		}
		run(&ref, pk, NULL, burst);
		for (size_t h = 0; h < sizeof(how) / sizeof(how[0]); h++) {
			for (size_t i = 0; i < burst; i++)
				idx[i] = (unsigned)i;
			how[h](idx, burst);
			run(&ord, pk, idx, burst);
			snprintf(what, sizeof(what), "%s burst %zu disorder %zu", name, bursts, h);
			same_writes(ord.cap, ref.cap, what);
		}
	}
	assert_true(bursts >= 3);
	tu_trace_free(&t);
	rig_free(&ord);
	rig_free(&ref);
}

static void shuffled_traces(void **st)
{
	(void)st;
	shuffled_bursts("tcp4_bulk.pcap", 64);
	shuffled_bursts("tcp4_bulk.pcap", 256);
	shuffled_bursts("mixed.pcap", 64);
	shuffled_bursts("udp4_fixed.pcap", 64);
	shuffled_bursts("tcp4_bidir.pcap", 64);
}

/* A sender's new session: its packets sort after every packet of the old one. */
static void older_epoch_first(int v6)
{
	struct rig ord = rig_new(TB_COALESCE_ORDER, 0), ref = rig_new(0, 0);
	struct tu_spec t = tu_tcp(v6);
	unsigned idx[8] = {4, 5, 6, 7, 0, 1, 2, 3};
	struct tb_stats st;

	reset_pk();
	for (int k = 0; k < 8; k++, tu_next(&t))
		add(&t, k < 4 ? 1 : 2);
	/* Counters restart with the new session: they alone would sort it first. */
	for (int k = 4; k < 8; k++)
		pk[k].counter = (uint64_t)k - 4;
	run(&ref, pk, NULL, npk);
	assert_int_equal(tb_capture_count(ref.cap), 1);
	run(&ord, pk, idx, npk);
	same_writes(ord.cap, ref.cap, "epoch 2 before epoch 1");
	tb_coalescer_stats(ord.co, &st);
	assert_int_equal(st.displaced, 4);
	rig_free(&ord);
	rig_free(&ref);
}
TU_BOTH(older_epoch_first)

/* Equal keys keep arrival order: the same as committing them unordered. */
static void equal_keys_keep_arrival(void **st)
{
	struct rig ord = rig_new(TB_COALESCE_ORDER, 0), ref = rig_new(0, 0);
	struct tu_spec t = tu_tcp4();
	unsigned idx[6] = {3, 2, 1, 0, 4, 5};

	(void)st;
	reset_pk();
	for (int k = 0; k < 6; k++, tu_next(&t))
		add(&t, 1);
	for (int k = 0; k < 6; k++)
		pk[k].counter = 5; /* one key for all: arrival order is the order */
	run(&ord, pk, idx, npk);
	{
		struct keyed arrived[6];
		for (int k = 0; k < 6; k++)
			arrived[k] = pk[idx[k]];
		run(&ref, arrived, NULL, 6);
	}
	same_writes(ord.cap, ref.cap, "equal keys");
	/* Arrival order 3 2 1 0 4 5 breaks the chain at every reversed step. */
	assert_true(tb_capture_count(ord.cap) > 1);
	/* Keys 5 6 5 in arrival order: the displaced 5 goes after the first 5. */
	{
		unsigned ties[3] = {0, 2, 1};
		pk[2].counter = 6;
		run(&ord, pk, ties, 3);
		run(&ref, pk, NULL, 3);
		assert_int_equal(tb_capture_count(ref.cap), 1);
		same_writes(ord.cap, ref.cap, "keys 5 6 5");
	}
	rig_free(&ord);
	rig_free(&ref);
}

/* More packets than max_pkts: held packets go to the lanes early, none lost. */
static void more_than_held(void **st)
{
	struct rig ord = rig_new(TB_COALESCE_ORDER, 8), ref = rig_new(0, 8);
	struct tu_spec t = tu_tcp4();
	unsigned idx[40];
	struct tb_stats so, sr;

	(void)st;
	reset_pk();
	for (int k = 0; k < 40; k++, tu_next(&t))
		add(&t, 1);
	/* Disorder only inside each window of 8: sorted per window = sorted. */
	for (unsigned w = 0; w < 40; w += 8)
		for (unsigned k = 0; k < 8; k++)
			idx[w + k] = w + 7 - k;
	run(&ref, pk, NULL, npk);
	run(&ord, pk, idx, npk);
	same_writes(ord.cap, ref.cap, "windows of 8");
	tb_coalescer_stats(ord.co, &so);
	tb_coalescer_stats(ref.co, &sr);
	assert_int_equal(so.pkts_in, 40);
	assert_int_equal(so.segments + (so.writes - so.superpackets), 40);
	assert_int_equal(so.why[TB_WHY_FULL], sr.why[TB_WHY_FULL]);
	assert_int_equal(so.displaced, 5 * 7);
	rig_free(&ord);
	rig_free(&ref);
}

/* Without the option the key is ignored; with it, a keyless commit is refused. */
static void keys_and_modes(void **st)
{
	struct rig ord = rig_new(TB_COALESCE_ORDER, 0), plain = rig_new(0, 0), ref = rig_new(0, 0);
	unsigned idx[7] = {6, 5, 4, 3, 2, 1, 0};
	struct tb_stats s;

	(void)st;
	small_burst(0);
	assert_int_equal(tb_coalescer_commit(ord.co, pk[0].pkt, pk[0].len), -EINVAL);
	assert_int_equal(tb_coalescer_commit_key(ord.co, NULL, 10, 0, 0), -EINVAL);
	assert_int_equal(tb_coalescer_commit_key(NULL, pk[0].pkt, pk[0].len, 0, 0), -EINVAL);
	/* Unordered: the keys change nothing, the reversed burst stays reversed. */
	run(&plain, pk, idx, npk);
	tb_capture_clear(ref.cap);
	for (int i = 0; i < 7; i++)
		assert_int_equal(tb_coalescer_commit(ref.co, pk[idx[i]].pkt, pk[idx[i]].len), 0);
	assert_int_equal(tb_coalescer_flush(ref.co), 0);
	same_writes(plain.cap, ref.cap, "unordered with keys");
	tb_coalescer_stats(plain.co, &s);
	assert_int_equal(s.displaced, 0);
	/* Ordered: the reversed burst comes out sorted. */
	run(&ord, pk, idx, npk);
	run(&ref, pk, NULL, npk);
	same_writes(ord.cap, ref.cap, "reversed");
	rig_free(&ord);
	rig_free(&plain);
	rig_free(&ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TU_BOTH_TESTS(every_permutation), cmocka_unit_test(shuffled_traces),
		TU_BOTH_TESTS(older_epoch_first), cmocka_unit_test(equal_keys_keep_arrival),
		cmocka_unit_test(more_than_held), cmocka_unit_test(keys_and_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
