/* SPDX-License-Identifier: MIT */
/* tb_csum_partial against a byte-by-byte reference, chaining, known vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tunbatch.h"

#define MAX_LEN	  2048
#define MAX_ALIGN 8

/* RFC 1071 by the book: big-endian 16-bit words, odd byte padded with zero,
 * carries folded at the end. Returns the folded sum in host order. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t start)
{
	uint64_t s = start;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The library's folded result, which is in memory order, as a host number. */
static uint16_t lib_sum(const void *p, size_t len, uint32_t sum)
{
	uint16_t f = tb_csum_fold(tb_csum_partial(p, len, sum));
	uint8_t b[2];

	memcpy(b, &f, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* A memory-order partial sum as the host-order start ref_sum expects. */
static uint32_t to_host(uint32_t mem)
{
	uint64_t s = mem;
	uint16_t f;
	uint8_t b[2];

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	f = (uint16_t)s;
	memcpy(b, &f, 2);
	return (uint32_t)(b[0] << 8 | b[1]);
}

/* Fixed-seed xorshift: the same data on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* The folded value of a sum must match the reference; both 0 and 0xffff
 * stand for zero in ones' complement, but the fold keeps them apart and so
 * must the library. */
static void every_length_every_alignment(void **state)
{
	static uint8_t buf[MAX_LEN + MAX_ALIGN + 64];
	unsigned checked = 0;

	(void)state;
	fill(buf, sizeof(buf));
	for (size_t align = 0; align < MAX_ALIGN; align++) {
		for (size_t len = 0; len <= MAX_LEN; len++) {
			const uint8_t *p = buf + align;
			uint16_t want = ref_sum(p, len, 0);
			uint16_t got = lib_sum(p, len, 0);
			if (want != got)
				fail_msg("len %zu align %zu: want %04x got %04x", len, align, want,
					 got);
			checked++;
		}
	}
	assert_int_equal(checked, (MAX_LEN + 1) * MAX_ALIGN);
}

/* Data that makes every carry happen: all 0xff, and words near the top. */
static void carries(void **state)
{
	static uint8_t buf[65536 + 8];

	(void)state;
	memset(buf, 0xff, sizeof(buf));
	for (size_t align = 0; align < MAX_ALIGN; align++) {
		size_t lens[] = {64, 65, 127, 128, 1500, 4096, 65535, 65536};
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
			assert_int_equal(lib_sum(buf + align, lens[i], 0),
					 ref_sum(buf + align, lens[i], 0));
	}
	/* 0xfffe words with large running sums in front. */
	for (size_t i = 0; i < sizeof(buf); i += 2)
		buf[i + 1] = 0xfe;
	{
		static const uint32_t starts[] = {0xffffffffu, 0xffff0000u, 0x0000ffffu,
						  0xfffefffeu, 0x80000001u};
		for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
			uint32_t h = to_host(starts[i]);
			assert_int_equal(lib_sum(buf + 1, 65535, starts[i]),
					 ref_sum(buf + 1, 65535, h));
			assert_int_equal(lib_sum(buf, 65536, starts[i]), ref_sum(buf, 65536, h));
		}
	}
}

/* The incoming sum is added in, at every length and alignment. */
static void initial_sum(void **state)
{
	static uint8_t buf[600];

	(void)state;
	fill(buf, sizeof(buf));
	for (size_t len = 0; len < sizeof(buf) - 8; len += 7) {
		for (size_t align = 0; align < MAX_ALIGN; align++) {
			uint32_t start = (uint32_t)rnd();
			assert_int_equal(lib_sum(buf + align, len, start),
					 ref_sum(buf + align, len, to_host(start)));
		}
	}
}

/* Even-length pieces chained give the sum of the whole, wherever the cuts
 * fall and whatever the pieces' alignment. */
static void chaining(void **state)
{
	static uint8_t buf[3000];

	(void)state;
	fill(buf, sizeof(buf));
	for (unsigned trial = 0; trial < 2000; trial++) {
		size_t len = (size_t)(rnd() % sizeof(buf));
		size_t off = 0;
		uint32_t sum = 0;
		while (off < len) {
			size_t piece = (size_t)(rnd() % 200);
			if (off + piece >= len)
				piece = len - off; /* the last piece may be odd */
			else
				piece &= ~(size_t)1;
			sum = tb_csum_partial(buf + off, piece, sum);
			off += piece;
		}
		assert_int_equal(tb_csum_fold(sum), tb_csum_fold(tb_csum_partial(buf, len, 0)));
		{
			uint16_t f = tb_csum_fold(sum);
			uint8_t b[2];
			memcpy(b, &f, 2);
			assert_int_equal(b[0] << 8 | b[1], ref_sum(buf, len, 0));
		}
	}
}

/* Values worked out by hand, independent of any implementation. */
static void known_vectors(void **state)
{
	/* RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
	static const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	/* An IPv4 header with its checksum b861 in place verifies to ffff. */
	static const uint8_t ip[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
				     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	static const uint8_t odd[] = {0x12, 0x34, 0x56}; /* 1234 + 5600 */
	uint8_t hdr[20];
	uint16_t c;

	(void)state;
	assert_int_equal(lib_sum(rfc, sizeof(rfc), 0), 0xddf2);
	assert_int_equal(lib_sum(ip, sizeof(ip), 0), 0xffff);
	assert_int_equal(lib_sum(odd, sizeof(odd), 0), 0x6834);
	assert_int_equal(lib_sum(odd, 0, 0), 0);
	assert_int_equal(tb_csum_fold(0), 0);
	assert_int_equal(tb_csum_fold(0xffffffffu), 0xffff);
	assert_int_equal(tb_csum_fold(0x0001ffffu), 0x0001);
	assert_int_equal(tb_csum_fold(0x12345678u), 0x68ac);

	/* Computing a header checksum gives the known value back. */
	memcpy(hdr, ip, sizeof(hdr));
	hdr[10] = hdr[11] = 0;
	c = (uint16_t)~tb_csum_fold(tb_csum_partial(hdr, sizeof(hdr), 0));
	memcpy(hdr + 10, &c, 2);
	assert_memory_equal(hdr, ip, sizeof(ip));

	/* 64 bytes of ff: 32 words of ffff fold to ffff. */
	{
		uint8_t ff[64];
		memset(ff, 0xff, sizeof(ff));
		assert_int_equal(lib_sum(ff, sizeof(ff), 0), 0xffff);
		memset(ff, 0, sizeof(ff));
		assert_int_equal(lib_sum(ff, sizeof(ff), 0), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_length_every_alignment),
		cmocka_unit_test(carries),
		cmocka_unit_test(initial_sum),
		cmocka_unit_test(chaining),
		cmocka_unit_test(known_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
