/* SPDX-License-Identifier: MIT */
/*
 * The UDP lane's rules, each on both sides and for IPv4 and IPv6: equal
 * datagrams merge, a shorter one is the last, a larger one reseeds, empty
 * and checksum-less datagrams go verbatim and seal their flow, the caps, and
 * the IP rules shared with TCP.
 */
#include "testutil.h"

#include <string.h>

static struct tu_spec udp(int v6)
{
	struct tu_spec s = tu_udp(v6);

	s.len = 500;
	return s;
}

static void merge_basic(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	struct tb_vnet_hdr v;
	struct tb_stats st;
	uint8_t seed[1024];
	size_t len, hl = tu_iphl(v6) + 8;
	const uint8_t *r;

	tu_build(&s, seed, sizeof(seed));
	for (int i = 0; i < 4; i++)
		tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2 3]", "flush=1");
	r = tu_rec(h, 0, &len, &v);
	assert_int_equal(len, hl + 2000);
	assert_int_equal(v.flags, TB_VNET_F_NEEDS_CSUM);
	assert_int_equal(v.gso_type, TB_GSO_UDP_L4);
	assert_int_equal(v.gso_size, 500);
	assert_int_equal(v.hdr_len, hl);
	assert_int_equal(v.csum_start, tu_iphl(v6));
	assert_int_equal(v.csum_offset, 6);
	/* UDP length and the checksum field (pseudo-header sum) patched. */
	assert_int_equal(tu_get16(r + tu_iphl(v6) + 4), len - tu_iphl(v6));
	assert_int_equal(tu_get16(r + tu_iphl(v6) + 6),
			 tu_fold(tu_pseudo(r, 17, (uint32_t)(len - tu_iphl(v6)))));
	assert_memory_equal(r + tu_iphl(v6), seed + tu_iphl(v6), 4); /* ports */
	if (v6) {
		assert_int_equal(tu_get16(r + 4), len - 40);
	} else {
		assert_int_equal(tu_get16(r + 2), len);
		assert_int_equal(tu_fold(tu_sum(r, 20, 0)), 0xffff);
		assert_int_equal(tu_get16(r + 4), tu_get16(seed + 4));
	}
	for (uint32_t i = 0; i < 2000; i++)
		if (r[hl + i] != tu_pay_byte(i))
			fail_msg("payload byte %u", i);
	tu_batch_stats(h, &st);
	assert_int_equal(st.lane_pkts[TB_LANE_UDP], 4);
	assert_int_equal(st.superpackets, 1);
	assert_int_equal(st.segments, 4);
	tu_free(h);
}
TU_BOTH(merge_basic)

static void sizes(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = udp(v6);

	/* Shorter: the last of its chain. */
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.len = 200;
	tu_add_next(h, &s);
	s.len = 500;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2] [3 4]", "short=1 flush=1");

	/* Larger: seeds a new chain. */
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.len = 800;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.len = 801;
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1] [2 3] 4", "size=2 flush=1");

	/* One byte of payload. */
	s.len = 1;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1]", NULL);
	tu_free(h);
}
TU_BOTH(sizes)

static void empty_mid_flow(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec a = udp(v6), b = udp(v6), e;
	struct tb_vnet_hdr v;
	size_t len;
	const uint8_t *r;

	b.sport = 4444;
	tu_add_next(h, &a); /* 0 */
	tu_add_next(h, &b); /* 1 */
	tu_add_next(h, &a); /* 2 */
	e = a;
	e.len = 0;
	tu_add_next(h, &e); /* 3: verbatim, seals a only */
	a.id = e.id;
	tu_add_next(h, &b); /* 4 */
	tu_add_next(h, &a); /* 5 */
	tu_add_next(h, &a); /* 6 */
	tu_flush_expect(h, "[0 2] [1 4] 3 [5 6]", "empty=1 flush=2");
	r = tu_rec(h, 2, &len, &v);
	assert_int_equal(len, tu_iphl(v6) + 8);
	assert_int_equal(v.gso_type, TB_GSO_NONE);
	assert_int_equal(tu_get16(r + tu_iphl(v6) + 4), 8);
	tu_free(h);
}
TU_BOTH(empty_mid_flow)

/* USO makes the kernel fill in a checksum: a datagram sent without one
 * would come out changed, so it goes verbatim and seals its flow. */
static void zero_csum(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	const uint8_t *r;

	tu_add_next(h, &s);
	s.udp_nocsum = 1;
	tu_add_next(h, &s);
	s.udp_nocsum = 0;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "0 1 [2 3]", "no_csum=1 flush=1");
	r = tu_rec(h, 1, NULL, NULL);
	assert_int_equal(tu_get16(r + tu_iphl(v6) + 6), 0);

	s.udp_nocsum = 1;
	for (int i = 0; i < 3; i++)
		tu_add_next(h, &s);
	tu_flush_expect(h, "0 1 2", "no_csum=3");
	tu_free(h);
}
TU_BOTH(zero_csum)

static void seg_cap(int v6)
{
	tu_check_seg_cap(udp(v6));
}
TU_BOTH(seg_cap)

static void byte_cap(int v6)
{
	/* Headers 28 (IPv4) or 48 (IPv6): payloads that fill 65535 exactly. */
	tu_check_byte_cap(udp(v6), v6 ? 3 : 13, v6 ? 21829 : 5039);
}
TU_BOTH(byte_cap)

static void ip_rules(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = udp(v6);

	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.tos = 0x02;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.ttl = 9;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	if (v6)
		s.flow = 77;
	else
		s.df = 0;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1] [2 3] [4 5] [6 7]", "tos=1 hdr=2 flush=1");
	tu_free(h);
}
TU_BOTH(ip_rules)

static void ip_id(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = udp(0);

	s.df = 0;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.id += 2;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2] [3 4]", "ip_id=1 flush=1");

	s.df = 1;
	for (int i = 0; i < 3; i++) {
		s.id = (uint16_t)(i * 7919);
		tu_add_next(h, &s);
	}
	tu_flush_expect(h, "[0 1 2]", NULL);
	tu_free(h);
}

static void interleaved(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec a = udp(v6), b = udp(v6), c = udp(v6);

	b.dport = 53;
	c.src[v6 ? 14 : 2] = 9;
	for (int i = 0; i < 3; i++) {
		tu_add_next(h, &a);
		tu_add_next(h, &b);
		tu_add_next(h, &c);
	}
	tu_flush_expect(h, "[0 3 6] [1 4 7] [2 5 8]", NULL);
	tu_free(h);
}
TU_BOTH(interleaved)

/* Bytes after the UDP length but inside the IP length would be carried as
 * payload by a merge: such a datagram goes verbatim in the lane. */
static void udp_padding(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	uint8_t p[1024];
	size_t n;

	tu_add_next(h, &s);
	n = tu_build(&s, p, sizeof(p));
	tu_put16(p + tu_iphl(v6) + 4, (uint16_t)(tu_get16(p + tu_iphl(v6) + 4) - 4));
	tu_fix_csums(p, n);
	tu_add_bytes(h, p, n);
	tu_next(&s);
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "0 1 [2 3]", "malformed=1 flush=1");
	tu_free(h);
}
TU_BOTH(udp_padding)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TU_BOTH_TESTS(merge_basic), TU_BOTH_TESTS(sizes),    TU_BOTH_TESTS(empty_mid_flow),
		TU_BOTH_TESTS(zero_csum),   TU_BOTH_TESTS(seg_cap),  TU_BOTH_TESTS(byte_cap),
		TU_BOTH_TESTS(ip_rules),    cmocka_unit_test(ip_id), TU_BOTH_TESTS(interleaved),
		TU_BOTH_TESTS(udp_padding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
