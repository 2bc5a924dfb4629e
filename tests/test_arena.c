/* SPDX-License-Identifier: MIT */
/* The arena: aligned disjoint buffers, growth that moves nothing, reset that
 * consolidates so the steady state is one slab. */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void fill(uint8_t *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(tag * 31u + i);
}

static int intact(const uint8_t *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(tag * 31u + i))
			return 0;
	return 1;
}

/* Reserves n buffers of sz[i] bytes, each 16-byte aligned, and fills buffer
 * i by tag tag0 + i. */
static void reserve_all(struct tb_arena *a, uint8_t **p, const size_t *sz, unsigned n,
			unsigned tag0)
{
	for (unsigned i = 0; i < n; i++) {
		p[i] = tb_arena_reserve(a, sz[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		fill(p[i], sz[i], tag0 + i);
	}
}

/* Nothing handed out moved or was overwritten by later buffers. */
static void assert_all_intact(uint8_t *const *p, const size_t *sz, unsigned n, unsigned tag0)
{
	for (unsigned i = 0; i < n; i++)
		assert_true(intact(p[i], sz[i], tag0 + i));
}

static void test_default_size(void **state)
{
	(void)state;
	struct tb_arena *a = tb_arena_create(0);

	assert_non_null(a);
	assert_int_equal(tb_arena_capacity(a), TB_ARENA_DEFAULT_SIZE);
	assert_int_equal(tb_arena_chunks(a), 1);
	assert_int_equal(tb_arena_used(a), 0);
	tb_arena_destroy(a);
	tb_arena_destroy(NULL);
}

static void test_aligned_disjoint(void **state)
{
	(void)state;
	struct tb_arena *a = tb_arena_create(8192);
	uint8_t *p[64];
	size_t sz[64], sum = 0;

	for (unsigned i = 0; i < 64; i++) {
		sz[i] = 1 + (i * 37) % 97;
		sum += sz[i];
	}
	reserve_all(a, p, sz, 64, 0);
	assert_int_equal(tb_arena_chunks(a), 1);
	assert_all_intact(p, sz, 64, 0);
	assert_true(tb_arena_used(a) >= sum);
	assert_true(tb_arena_used(a) <= 8192);
	tb_arena_reset(a);
	assert_int_equal(tb_arena_used(a), 0);
	/* The slab is reused from its start. */
	assert_ptr_equal(tb_arena_reserve(a, 10), p[0]);
	tb_arena_destroy(a);
}

static void test_growth_keeps_buffers(void **state)
{
	(void)state;
	struct tb_arena *a = tb_arena_create(1000);
	uint8_t *p[100];
	size_t sz[100], cap;

	for (unsigned i = 0; i < 100; i++)
		sz[i] = 300;
	reserve_all(a, p, sz, 100, 0);
	assert_true(tb_arena_chunks(a) > 1);
	cap = tb_arena_capacity(a);
	assert_true(cap >= 100 * 300);
	assert_all_intact(p, sz, 100, 0);
	for (unsigned i = 0; i < 100; i++)
		for (unsigned j = i + 1; j < 100; j++)
			assert_true(p[i] + 300 <= p[j] || p[j] + 300 <= p[i]);

	tb_arena_reset(a);
	assert_int_equal(tb_arena_chunks(a), 1);
	assert_int_equal(tb_arena_capacity(a), cap);
	assert_int_equal(tb_arena_used(a), 0);
	/* Same burst again: it fits the consolidated slab, nothing grows. */
	for (int round = 0; round < 3; round++) {
		reserve_all(a, p, sz, 100, 7);
		assert_all_intact(p, sz, 100, 7);
		assert_int_equal(tb_arena_chunks(a), 1);
		assert_int_equal(tb_arena_capacity(a), cap);
		tb_arena_reset(a);
	}
	tb_arena_destroy(a);
}

/* Growth with tiny reserves: the first buffer of a new chunk and the ones
 * after it must not overlap either. */
static void test_growth_small_buffers(void **state)
{
	(void)state;
	struct tb_arena *a = tb_arena_create(256);
	uint8_t *p[300];
	size_t sz[300];

	for (unsigned i = 0; i < 300; i++)
		sz[i] = 1 + (i * 7) % 40;
	reserve_all(a, p, sz, 300, 0);
	assert_true(tb_arena_chunks(a) > 2);
	assert_all_intact(p, sz, 300, 0);
	tb_arena_reset(a);
	assert_int_equal(tb_arena_chunks(a), 1);
	tb_arena_destroy(a);
}

static void test_oversize_and_limits(void **state)
{
	(void)state;
	struct tb_arena *a = tb_arena_create(1000);
	uint8_t *small = tb_arena_reserve(a, 100);
	uint8_t *big;

	fill(small, 100, 1);
	big = tb_arena_reserve(a, 5000); /* larger than a whole chunk */
	assert_non_null(big);
	fill(big, 5000, 2);
	assert_true(intact(small, 100, 1));
	assert_true(tb_arena_capacity(a) >= 6000);
	assert_null(tb_arena_reserve(a, SIZE_MAX));
	assert_null(tb_arena_reserve(a, SIZE_MAX / 2 + 1));
	assert_true(intact(big, 5000, 2));
	tb_arena_reset(a);
	assert_int_equal(tb_arena_chunks(a), 1);
	big = tb_arena_reserve(a, 5000);
	fill(big, 5000, 3);
	assert_int_equal(tb_arena_chunks(a), 1);
	tb_arena_destroy(a);
}

/* A size no chunk could hold is refused like a failed allocation: NULL
 * with errno ENOMEM, the buffers handed out before left alone. */
static void test_oversize_errno(void **state)
{
	(void)state;
	struct tb_arena *a = tb_arena_create(1000);
	uint8_t *small = tb_arena_reserve(a, 100);

	fill(small, 100, 4);
	errno = 0;
	assert_null(tb_arena_reserve(a, SIZE_MAX / 2 + 1));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(tb_arena_reserve(a, SIZE_MAX));
	assert_int_equal(errno, ENOMEM);
	assert_true(intact(small, 100, 4));
	assert_int_equal(tb_arena_chunks(a), 1);
	tb_arena_destroy(a);
}

/* The coalescer's reserve is the arena's: the same errno. */
static void test_coalescer_oversize_errno(void **state)
{
	(void)state;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 2048);

	errno = 0;
	assert_null(tb_coalescer_reserve(h->co, SIZE_MAX / 2 + 1));
	assert_int_equal(errno, ENOMEM);
	tu_free(h);
}

/* Through the coalescer: packets committed in a tiny arena that grows in
 * the middle of the burst still come out intact, and the next bursts fit. */
static void test_coalescer_growth(void **state)
{
	(void)state;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 2048);
	struct tu_spec s = tu_tcp4(), u = tu_udp6();
	size_t cap = 0;

	for (int burst = 0; burst < 4; burst++) {
		s.len = 1000;
		u.len = 700;
		for (int i = 0; i < 30; i++) {
			tu_add_next(h, &s);
			tu_add(h, &u);
			u.id++;
		}
		if (burst == 0)
			assert_true(tb_arena_chunks(h->arena) > 1);
		else
			assert_int_equal(tb_arena_chunks(h->arena), 1);
		assert_int_equal(tu_flush(h), 0);
		assert_int_equal(tb_arena_chunks(h->arena), 1);
		if (burst == 0)
			cap = tb_arena_capacity(h->arena);
		assert_int_equal(tb_arena_capacity(h->arena), cap);
		/* 30 TCP segments and 30 UDP datagrams: one superpacket each. */
		tu_expect(h, "[0 2 4 6 8 10 12 14 16 18 20 22 24 26 28 30 32 34 36 38 40 42 44 46 "
			     "48 50 52 54 56 58] [1 3 5 7 9 11 13 15 17 19 21 23 25 27 29 31 33 "
			     "35 37 39 41 43 45 47 49 51 53 55 57 59]");
	}
	tu_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_size),
		cmocka_unit_test(test_aligned_disjoint),
		cmocka_unit_test(test_growth_keeps_buffers),
		cmocka_unit_test(test_growth_small_buffers),
		cmocka_unit_test(test_oversize_and_limits),
		cmocka_unit_test(test_oversize_errno),
		cmocka_unit_test(test_coalescer_oversize_errno),
		cmocka_unit_test(test_coalescer_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
