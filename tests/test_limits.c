/* SPDX-License-Identifier: MIT */
/*
 * Every limit on both sides of its exact edge: bytes per superpacket (65535
 * taken, 65536 split), segments per superpacket (64 / 65), lane capacity
 * (max_pkts / max_pkts + 1), IPv6 extension headers walked (8 / 9), arena
 * chunk size (exact fit / one byte over). A limit off by one in either
 * direction turns one of these red.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define MSS 1448

/* IP + L4 header bytes of s's packets. */
static unsigned hdr_of(const struct tu_spec *s)
{
	return (unsigned)(tu_spec_len(s) - s->len);
}

/*
 * 45 full segments and a short one that ends the superpacket on exactly
 * total bytes (IPv4 TCP: 40 + 45 x 1448 + 336 = 65536). With other set, a
 * packet of another flow goes between each two segments, so that every
 * segment takes the full path rather than the chain's short one.
 */
static void add_run(struct tu_h *h, struct tu_spec *s, struct tu_spec *other, unsigned total)
{
	for (int i = 0; i < 46; i++) {
		s->len = i < 45 ? MSS : total - hdr_of(s) - 45 * MSS;
		tu_add_next(h, s);
		if (other) {
			tu_add_next(h, other);
			other->seq += 7; /* keeps the other flow's chain going */
		}
	}
}

/* A chain that reaches 65535 bytes is one superpacket; one that would reach
 * 65536 is sealed (byte_cap) and its last segment goes alone. */
static void bytes_edge(struct tu_spec s, int interleave)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec o = s, s1 = s;
	char want[512], run[400];
	size_t len;
	int k = 0;

	o.sport = 4000; /* another flow, never merged: one byte of payload */
	o.len = 1;
	add_run(h, &s, interleave ? &o : NULL, 65535);
	tu_flush(h);
	/* The superpacket is the first write of the flow. */
	for (size_t i = 0; i < tu_nrec(h); i++) {
		struct tb_vnet_hdr v;
		tu_rec(h, i, &len, &v);
		if (v.gso_type != TB_GSO_NONE && len > 1000) {
			assert_int_equal(len, 65535);
			k++;
		}
	}
	assert_int_equal(k, 1);
	if (!interleave) {
		tu_expect(h, tu_chain(want, sizeof(want), 0, 46));
		tu_expect_why(h, "short=1");
	}

	add_run(h, &s1, interleave ? &o : NULL, 65536);
	tu_flush(h);
	if (!interleave) {
		snprintf(want, sizeof(want), "%s 45", tu_chain(run, sizeof(run), 0, 45));
		tu_expect(h, want);
		tu_expect_why(h, "byte_cap=1 flush=1");
	} else {
		struct tb_stats st;
		tu_batch_stats(h, &st);
		assert_int_equal(st.why[TB_WHY_BYTE_CAP], 1);
	}
	for (size_t i = 0; i < tu_nrec(h); i++) {
		tu_rec(h, i, &len, NULL);
		assert_true(len <= 65535);
	}
	tu_free(h);
}

static void bytes_tcp(int v6)
{
	bytes_edge(tu_tcp(v6), 0);
	bytes_edge(tu_tcp(v6), 1);
}

static void bytes_udp(int v6)
{
	bytes_edge(tu_udp(v6), 0);
	bytes_edge(tu_udp(v6), 1);
}

TU_BOTH(bytes_tcp)
TU_BOTH(bytes_udp)

/* 64 segments are one superpacket, sealed at the cap; a 65th goes alone. */
static void segs_edge(struct tu_spec s)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	char want[512], run[400];

	s.len = 100;
	for (int i = 0; i < 64; i++)
		tu_add_next(h, &s);
	tu_flush_expect(h, tu_chain(want, sizeof(want), 0, 64), "seg_cap=1");
	for (int i = 0; i < 65; i++)
		tu_add_next(h, &s);
	snprintf(want, sizeof(want), "%s 64", tu_chain(run, sizeof(run), 0, 64));
	tu_flush_expect(h, want, "seg_cap=1 flush=1");
	tu_free(h);
}

static void segs_tcp(int v6)
{
	segs_edge(tu_tcp(v6));
}

static void segs_udp(int v6)
{
	segs_edge(tu_udp(v6));
}

TU_BOTH(segs_tcp)
TU_BOTH(segs_udp)

/* A lane holds exactly max_pkts packets until flush; one more and what it
 * holds is written first, its open chain counted as "full". */
static void lane_edge(struct tu_spec s, unsigned n)
{
	struct tb_coalescer_opts o = {.flags = 0, .max_pkts = n};
	struct tu_h *h = tu_new(TU_CAPS, &o, 0);
	char want[512], run[400];

	s.len = 100;
	for (unsigned i = 0; i < n; i++)
		tu_add_next(h, &s);
	assert_int_equal(tu_nrec(h), 0); /* nothing written before flush */
	tu_flush_expect(h, tu_chain(want, sizeof(want), 0, n), "flush=1");

	for (unsigned i = 0; i < n + 1; i++)
		tu_add_next(h, &s);
	assert_int_equal(tu_nrec(h), 1); /* written early, before flush */
	snprintf(want, sizeof(want), "%s %u", tu_chain(run, sizeof(run), 0, n), n);
	tu_flush_expect(h, want, "full=1 flush=1");
	tu_free(h);
}

static void lane_cap(int v6)
{
	lane_edge(tu_tcp(v6), 8);
	lane_edge(tu_udp(v6), 8);
	lane_edge(tu_tcp(v6), 63); /* one short of the segment cap */
}

TU_BOTH(lane_cap)

/* The passthrough lane too: max_pkts packets wait for flush, one more and
 * they are written first. */
static void lane_cap_pass(void **st)
{
	(void)st;
	struct tb_coalescer_opts o = {.flags = 0, .max_pkts = 5};
	struct tu_h *h = tu_new(TU_CAPS, &o, 0);
	struct tu_spec i4 = tu_icmp4();

	for (int i = 0; i < 5; i++)
		tu_add_next(h, &i4);
	assert_int_equal(tu_nrec(h), 0);
	tu_flush_expect(h, "0 1 2 3 4", "");
	for (int i = 0; i < 6; i++)
		tu_add_next(h, &i4);
	assert_int_equal(tu_nrec(h), 5);
	tu_flush_expect(h, "0 1 2 3 4 5", "");
	tu_free(h);
}

/* TCP behind n destination-options headers of 8 bytes. */
static size_t ext_chain(uint8_t *out, size_t cap, unsigned n)
{
	struct tu_spec s = tu_tcp6();
	uint8_t tmp[512];
	size_t len = tu_build(&s, tmp, sizeof(tmp));

	assert_true(len + 8 * n <= cap);
	memcpy(out, tmp, 40);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = out + 40 + 8 * i;
		memset(e, 0, 8);
		e[0] = i + 1 < n ? 60 : 6;
		e[1] = 0;
		e[2] = 1; /* PadN of 4 bytes */
		e[3] = 4;
	}
	out[6] = n ? 60 : 6;
	memcpy(out + 40 + 8 * n, tmp + 40, len - 40);
	tu_put16(out + 4, (uint16_t)(len - 40 + 8 * n));
	return len + 8 * n;
}

/* Eight extension headers are walked to TCP: the packet stays in the TCP
 * lane (verbatim, unsupported); behind a ninth the protocol is unknown and
 * the packet goes to passthrough. */
static void ext_headers(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	uint8_t p[1024];
	struct tbi_pkt pk;
	struct tb_stats s;
	size_t n;

	n = ext_chain(p, sizeof(p), 8);
	assert_int_equal(tbi_parse(p, n, &pk), TBI_KIND_UNSUPPORTED);
	assert_int_equal(pk.proto, 6);
	assert_int_equal(pk.ip_len, 40 + 8 * 8);
	tu_add_bytes(h, p, n);
	tu_flush_expect(h, "0", "unsupported=1");
	tu_batch_stats(h, &s);
	assert_int_equal(s.lane_pkts[TB_LANE_TCP], 1);

	n = ext_chain(p, sizeof(p), 9);
	assert_int_equal(tbi_parse(p, n, &pk), TBI_KIND_OTHER);
	tu_add_bytes(h, p, n);
	tu_flush_expect(h, "0", "");
	tu_batch_stats(h, &s);
	assert_int_equal(s.lane_pkts[TB_LANE_PASS], 1);
	assert_int_equal(s.lane_pkts[TB_LANE_TCP], 0);
	tu_free(h);
}

/* A reserve that fits the chunk exactly stays in it; one byte more chains
 * a new chunk. Also after an aligned first buffer. */
static void arena_edge(void **st)
{
	(void)st;
	struct tb_arena *a = tb_arena_create(1024);
	uint8_t *p, *q;

	p = tb_arena_reserve(a, 1024);
	assert_non_null(p);
	assert_int_equal(tb_arena_chunks(a), 1);
	assert_int_equal(tb_arena_used(a), 1024);
	tb_arena_reset(a);

	assert_non_null(tb_arena_reserve(a, 1025));
	assert_int_equal(tb_arena_chunks(a), 2);
	tb_arena_destroy(a);

	/* 16 bytes, then exactly the rest / one byte more than the rest. */
	a = tb_arena_create(1024);
	p = tb_arena_reserve(a, 10); /* rounded up to 16 by the next one */
	q = tb_arena_reserve(a, 1024 - 16);
	assert_ptr_equal(q, p + 16);
	assert_int_equal(tb_arena_chunks(a), 1);
	tb_arena_reset(a);
	p = tb_arena_reserve(a, 10);
	q = tb_arena_reserve(a, 1024 - 16 + 1);
	assert_non_null(q);
	assert_int_equal(tb_arena_chunks(a), 2);
	tb_arena_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TU_BOTH_TESTS(bytes_tcp),      TU_BOTH_TESTS(bytes_udp),
		TU_BOTH_TESTS(segs_tcp),       TU_BOTH_TESTS(segs_udp),
		TU_BOTH_TESTS(lane_cap),       cmocka_unit_test(lane_cap_pass),
		cmocka_unit_test(ext_headers), cmocka_unit_test(arena_edge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
