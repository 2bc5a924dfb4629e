/* SPDX-License-Identifier: MIT */
/*
 * The UDP lane's rules, each on both sides and for IPv4 and IPv6: equal
 * datagrams merge, a shorter one is the last, a larger one reseeds, empty
 * and checksum-less datagrams go verbatim and seal their flow, the caps, and
 * the IP rules shared with TCP.
 */
#include "testutil.h"

#include <string.h>

#define CAPS (TB_CAP_TSO | TB_CAP_USO)

#define BOTH(name)                                                                                 \
	static void name##_v4(void **st)                                                           \
	{                                                                                          \
		(void)st;                                                                          \
		name(0);                                                                           \
	}                                                                                          \
	static void name##_v6(void **st)                                                           \
	{                                                                                          \
		(void)st;                                                                          \
		name(1);                                                                           \
	}
#define TESTS(name) cmocka_unit_test(name##_v4), cmocka_unit_test(name##_v6)

static struct tu_spec udp(int v6)
{
	struct tu_spec s = v6 ? tu_udp6() : tu_udp4();

	s.len = 500;
	return s;
}

/* Adds s, then moves on: next IPv4 ID, other payload bytes. */
static size_t dgram(struct tu_h *h, struct tu_spec *s)
{
	size_t i = tu_add(h, s);

	s->id++;
	s->pay_off += s->len;
	return i;
}

static unsigned iphl(int v6)
{
	return v6 ? 40 : 20;
}

static char *range(char *buf, size_t cap, unsigned from, unsigned to)
{
	size_t k = (size_t)snprintf(buf, cap, "[");

	for (unsigned i = from; i < to; i++)
		k += (size_t)snprintf(buf + k, cap - k, "%s%u", i > from ? " " : "", i);
	snprintf(buf + k, cap - k, "]");
	return buf;
}

static void merge_basic(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	struct tb_vnet_hdr v;
	struct tb_stats st;
	uint8_t seed[1024];
	size_t len, hl = iphl(v6) + 8;
	const uint8_t *r;

	tu_build(&s, seed, sizeof(seed));
	for (int i = 0; i < 4; i++)
		dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1 2 3]");
	tu_expect_why(h, "flush=1");
	r = tu_rec(h, 0, &len, &v);
	assert_int_equal(len, hl + 2000);
	assert_int_equal(v.flags, TB_VNET_F_NEEDS_CSUM);
	assert_int_equal(v.gso_type, TB_GSO_UDP_L4);
	assert_int_equal(v.gso_size, 500);
	assert_int_equal(v.hdr_len, hl);
	assert_int_equal(v.csum_start, iphl(v6));
	assert_int_equal(v.csum_offset, 6);
	/* UDP length and the checksum field (pseudo-header sum) patched. */
	assert_int_equal(tu_get16(r + iphl(v6) + 4), len - iphl(v6));
	assert_int_equal(tu_get16(r + iphl(v6) + 6),
			 tu_fold(tu_pseudo(r, 17, (uint32_t)(len - iphl(v6)))));
	assert_memory_equal(r + iphl(v6), seed + iphl(v6), 4); /* ports */
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
BOTH(merge_basic)

static void sizes(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(v6);

	/* Shorter: the last of its chain. */
	dgram(h, &s);
	dgram(h, &s);
	s.len = 200;
	dgram(h, &s);
	s.len = 500;
	dgram(h, &s);
	dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1 2] [3 4]");
	tu_expect_why(h, "short=1 flush=1");

	/* Larger: seeds a new chain. */
	dgram(h, &s);
	dgram(h, &s);
	s.len = 800;
	dgram(h, &s);
	dgram(h, &s);
	s.len = 801;
	dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1] [2 3] 4");
	tu_expect_why(h, "size=2 flush=1");

	/* One byte of payload. */
	s.len = 1;
	dgram(h, &s);
	dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1]");
	tu_free(h);
}
BOTH(sizes)

static void empty_mid_flow(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec a = udp(v6), b = udp(v6), e;
	struct tb_vnet_hdr v;
	size_t len;
	const uint8_t *r;

	b.sport = 4444;
	dgram(h, &a); /* 0 */
	dgram(h, &b); /* 1 */
	dgram(h, &a); /* 2 */
	e = a;
	e.len = 0;
	dgram(h, &e); /* 3: verbatim, seals a only */
	a.id = e.id;
	dgram(h, &b); /* 4 */
	dgram(h, &a); /* 5 */
	dgram(h, &a); /* 6 */
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 2] [1 4] 3 [5 6]");
	tu_expect_why(h, "empty=1 flush=2");
	r = tu_rec(h, 2, &len, &v);
	assert_int_equal(len, iphl(v6) + 8);
	assert_int_equal(v.gso_type, TB_GSO_NONE);
	assert_int_equal(tu_get16(r + iphl(v6) + 4), 8);
	tu_free(h);
}
BOTH(empty_mid_flow)

/* USO makes the kernel fill in a checksum: a datagram sent without one
 * would come out changed, so it goes verbatim and seals its flow. */
static void zero_csum(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	const uint8_t *r;

	dgram(h, &s);
	s.udp_nocsum = 1;
	dgram(h, &s);
	s.udp_nocsum = 0;
	dgram(h, &s);
	dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "0 1 [2 3]");
	tu_expect_why(h, "no_csum=1 flush=1");
	r = tu_rec(h, 1, NULL, NULL);
	assert_int_equal(tu_get16(r + iphl(v6) + 6), 0);

	s.udp_nocsum = 1;
	for (int i = 0; i < 3; i++)
		dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "0 1 2");
	tu_expect_why(h, "no_csum=3");
	tu_free(h);
}
BOTH(zero_csum)

static void seg_cap(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	char want[512], tmp[400];

	s.len = 100;
	for (int i = 0; i < 63; i++)
		dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, range(want, sizeof(want), 0, 63));
	tu_expect_why(h, "flush=1");

	for (int i = 0; i < 66; i++)
		dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	snprintf(want, sizeof(want), "%s [64 65]", range(tmp, sizeof(tmp), 0, 64));
	tu_expect(h, want);
	tu_expect_why(h, "seg_cap=1 flush=1");
	tu_free(h);
}
BOTH(seg_cap)

static void byte_cap(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	/* Headers 28 (IPv4) or 48 (IPv6): payloads that fill 65535 exactly. */
	unsigned n = v6 ? 3 : 13, p = v6 ? 21829 : 5039;
	char want[256], tmp[200];
	size_t len;

	s.len = p;
	for (unsigned i = 0; i < n + 2; i++)
		dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	snprintf(want, sizeof(want), "%s [%u %u]", range(tmp, sizeof(tmp), 0, n), n, n + 1);
	tu_expect(h, want);
	tu_expect_why(h, "byte_cap=1 flush=1");
	tu_rec(h, 0, &len, NULL);
	assert_int_equal(len, 65535);

	s.len = p + 1;
	for (unsigned i = 0; i < n; i++)
		dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	snprintf(want, sizeof(want), "%s %u", range(tmp, sizeof(tmp), 0, n - 1), n - 1);
	tu_expect(h, want);
	tu_expect_why(h, "byte_cap=1 flush=1");
	tu_free(h);
}
BOTH(byte_cap)

static void ip_rules(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(v6);

	dgram(h, &s);
	dgram(h, &s);
	s.tos = 0x02;
	dgram(h, &s);
	dgram(h, &s);
	s.ttl = 9;
	dgram(h, &s);
	dgram(h, &s);
	if (v6)
		s.flow = 77;
	else
		s.df = 0;
	dgram(h, &s);
	dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1] [2 3] [4 5] [6 7]");
	tu_expect_why(h, "tos=1 hdr=2 flush=1");
	tu_free(h);
}
BOTH(ip_rules)

static void ip_id(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(0);

	s.df = 0;
	dgram(h, &s);
	dgram(h, &s);
	dgram(h, &s);
	s.id += 2;
	dgram(h, &s);
	dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1 2] [3 4]");
	tu_expect_why(h, "ip_id=1 flush=1");

	s.df = 1;
	for (int i = 0; i < 3; i++) {
		s.id = (uint16_t)(i * 7919);
		dgram(h, &s);
	}
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1 2]");
	tu_free(h);
}

static void interleaved(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec a = udp(v6), b = udp(v6), c = udp(v6);

	b.dport = 53;
	c.src[v6 ? 14 : 2] = 9;
	for (int i = 0; i < 3; i++) {
		dgram(h, &a);
		dgram(h, &b);
		dgram(h, &c);
	}
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 3 6] [1 4 7] [2 5 8]");
	tu_free(h);
}
BOTH(interleaved)

/* Bytes after the UDP length but inside the IP length would be carried as
 * payload by a merge: such a datagram goes verbatim in the lane. */
static void udp_padding(int v6)
{
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = udp(v6);
	uint8_t p[1024];
	size_t n;

	dgram(h, &s);
	n = tu_build(&s, p, sizeof(p));
	tu_put16(p + iphl(v6) + 4, (uint16_t)(tu_get16(p + iphl(v6) + 4) - 4));
	tu_fix_csums(p, n);
	tu_add_bytes(h, p, n);
	s.id++;
	s.pay_off += s.len;
	dgram(h, &s);
	dgram(h, &s);
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "0 1 [2 3]");
	tu_expect_why(h, "malformed=1 flush=1");
	tu_free(h);
}
BOTH(udp_padding)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TESTS(merge_basic),    TESTS(sizes),
		TESTS(empty_mid_flow), TESTS(zero_csum),
		TESTS(seg_cap),	       TESTS(byte_cap),
		TESTS(ip_rules),       cmocka_unit_test(ip_id),
		TESTS(interleaved),    TESTS(udp_padding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
