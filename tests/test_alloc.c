/* SPDX-License-Identifier: MIT */
/*
 * The hot path allocates nothing: after a few warm-up bursts (the arena
 * grows, then consolidates into one slab), many more bursts of mixed
 * traffic, early drains of full lanes, rejected superpackets and malformed
 * packets make no malloc, calloc, realloc or free call at all.
 *
 * This program is linked with --wrap for those four (tests/CMakeLists.txt),
 * so every call from the library's and this file's objects lands in the
 * counters below; sanitizers interpose malloc, so plain symbol overrides
 * would not be reliable.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static unsigned long calls;

void *__wrap_malloc(size_t n)
{
	calls++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	calls++;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	calls++;
	return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	calls++;
	__real_free(p);
}

/* A writer that allocates nothing: it sums what it is given, and rejects
 * every seventh superpacket so the fallback path runs too. */
struct sum_writer {
	struct tb_writer w;
	uint64_t bytes, writes, gso;
};

static int sw_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct sum_writer *s = (struct sum_writer *)w;

	s->bytes += len + (len ? ((const uint8_t *)pkt)[len - 1] : 0);
	s->writes++;
	return 0;
}

static int sw_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct sum_writer *s = (struct sum_writer *)w;

	if (++s->gso % 7 == 0)
		return -EMSGSIZE;
	s->bytes += sp->vnet.hdr_len;
	for (unsigned i = 0; i < sp->n_payload; i++)
		s->bytes += sp->payload[i].iov_len;
	s->writes++;
	return 0;
}

static struct tu_spec flows[6];

static void burst(struct tb_coalescer *co, unsigned round)
{
	/* Bursts of 40 to 199 packets: more than a lane holds (max_pkts 64). */
	unsigned n = 40 + (round * 37) % 160;

	for (unsigned i = 0; i < n; i++) {
		struct tu_spec *s = &flows[(i / 9 + round) % 6];
		struct tu_spec x = *s;
		size_t len;
		uint8_t *p;

		if (i % 23 == 5)
			x.len = 0; /* pure ACK or empty datagram */
		else if (i % 31 == 7)
			x.flags |= TU_PSH;
		len = tu_spec_len(&x);
		p = tb_coalescer_reserve(co, len + 8);
		if (!p)
			fail_msg("reserve failed");
		tu_build(&x, p, len);
		if (i % 41 == 3)
			len -= 3; /* a length that lies: malformed */
		assert_int_equal(tb_coalescer_commit(co, p, len), 0);
		s->seq += x.len;
		s->id++;
		s->pay_off += x.len;
	}
	assert_int_equal(tb_coalescer_flush(co), 0);
}

static void no_alloc_after_warmup(void **state)
{
	(void)state;
	struct sum_writer sw = {.w = {.write = sw_write,
				      .write_gso = sw_write_gso,
				      .caps = TB_CAP_TSO | TB_CAP_USO}};
	struct tb_coalescer_opts o = {.flags = TB_COALESCE_VERIFY_CSUM, .max_pkts = 64};
	struct tb_arena *a;
	struct tb_coalescer *co;
	struct tb_stats st;
	unsigned long before = calls;
	size_t cap;

	for (int i = 0; i < 6; i++) {
		flows[i] = i % 3 == 0 ? tu_tcp4() : i % 3 == 1 ? tu_tcp6() : tu_udp6();
		flows[i].sport = (uint16_t)(100 + i);
		flows[i].len = 200 + 300 * (unsigned)i;
		if (i == 5)
			flows[i] = tu_icmp4();
	}
	/* A small arena, so warm-up has to grow it. */
	a = tb_arena_create(16384);
	co = tb_coalescer_create(&sw.w, a, &o);
	assert_non_null(co);
	/* The counters see the library's calls (the wrapping is in place). */
	assert_true(calls > before);

	/* Warm-up: every burst size and mix once (sizes repeat every 160). */
	for (unsigned r = 0; r < 480; r++)
		burst(co, r);
	assert_int_equal(tb_arena_chunks(a), 1);
	cap = tb_arena_capacity(a);
	assert_true(cap > 16384);

	before = calls;
	for (unsigned r = 480; r < 2480; r++)
		burst(co, r);
	if (calls != before)
		fail_msg("%lu allocator calls after warm-up", calls - before);
	assert_int_equal(tb_arena_chunks(a), 1);
	assert_int_equal(tb_arena_capacity(a), cap);

	/* The bursts did exercise every path. */
	tb_coalescer_stats(co, &st);
	assert_true(st.superpackets > 1000);
	assert_true(st.fallbacks > 100);
	assert_true(st.why[TB_WHY_FULL] > 100);
	assert_true(st.why[TB_WHY_MALFORMED] > 100);
	assert_true(st.pure_acks > 100);
	assert_true(st.lane_pkts[TB_LANE_PASS] > 1000);
	assert_int_equal(sw.writes, st.writes);

	tb_coalescer_destroy(co);
	tb_arena_destroy(a);
}

/* A real trace, replayed twice: the second pass allocates nothing. */
static void no_alloc_trace(void **state)
{
	(void)state;
	struct sum_writer sw = {.w = {.write = sw_write,
				      .write_gso = sw_write_gso,
				      .caps = TB_CAP_TSO | TB_CAP_USO}};
	struct tu_trace t;
	char err[256];
	struct tb_arena *a;
	struct tb_coalescer *co;
	unsigned long before = 0;

	/* The full trace when it is beside the repository, else the bundled cut. */
	if (tu_trace_load(TB_TRACES_DIR "/mixed.pcap", &t, err, sizeof(err)) &&
	    tu_trace_load(TB_EXAMPLES_DIR "/mixed.pcap", &t, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(t.n >= 1000);
	a = tb_arena_create(0);
	co = tb_coalescer_create(&sw.w, a, NULL);
	assert_non_null(co);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			before = calls;
		for (size_t i = 0; i < t.n; i++) {
			uint8_t *p = tb_coalescer_reserve(co, t.pkts[i].len);
			memcpy(p, t.pkts[i].data, t.pkts[i].len);
			assert_int_equal(tb_coalescer_commit(co, p, t.pkts[i].len), 0);
			if (i % 64 == 63 || i + 1 == t.n)
				assert_int_equal(tb_coalescer_flush(co), 0);
		}
	}
	if (calls != before)
		fail_msg("%lu allocator calls replaying %zu packets", calls - before, t.n);
	tb_coalescer_destroy(co);
	tb_arena_destroy(a);
	tu_trace_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_alloc_after_warmup),
		cmocka_unit_test(no_alloc_trace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
