/* SPDX-License-Identifier: MIT */
/*
 * tb_vnet_validate: every kind of bad virtio header is refused with its
 * reason, good ones pass with hdr_len taken from the real headers, and no
 * input makes it (or tb_segment, which validates first) read out of bounds.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A packet: IPv4 or IPv6, TCP/UDP/other, with options and payload. */
struct pk {
	int v6;
	uint8_t proto;
	unsigned ipopt;	 /* IPv4 option bytes */
	unsigned tcpopt; /* TCP option bytes (NOPs) */
	unsigned pay;	 /* payload bytes */
};

static struct tu_spec spec_of(const struct pk *k)
{
	struct tu_spec s = tu_tcp(k->v6);

	s.proto = k->proto;
	s.ipopt_len = (uint8_t)k->ipopt;
	memset(s.opts, 1, k->tcpopt);
	s.optlen = (uint8_t)k->tcpopt;
	s.len = k->pay;
	return s;
}

static uint8_t pkt[70000];

static size_t build(const struct pk *k, uint8_t *out)
{
	struct tu_spec s = spec_of(k);

	return tu_build(&s, out, sizeof(pkt));
}

static const struct pk TCP4 = {0, 6, 0, 0, 3000};
static const struct pk TCP6 = {1, 6, 0, 0, 3000};
static const struct pk UDP4 = {0, 17, 0, 0, 3000};
static const struct pk UDP6 = {1, 17, 0, 0, 3000};

/* A header the kernel would send for k as a superpacket. */
static struct tb_vnet_hdr gso_hdr(const struct pk *k)
{
	struct tu_spec s = spec_of(k);

	return tu_gso_hdr(&s, 1000);
}

/* Validates a copy of the packet in a buffer of exactly len bytes, so that
 * the sanitizer sees any read past the end; vh must stay as it was on
 * refusal. */
static enum tb_vnet_err validate(struct tb_vnet_hdr *vh, const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct tb_vnet_hdr before = *vh;
	enum tb_vnet_err err;

	assert_non_null(copy);
	memcpy(copy, p, len);
	err = tb_vnet_validate(vh, copy, len);
	if (err != TB_VNET_OK)
		assert_memory_equal(vh, &before, sizeof(before));
	free(copy);
	return err;
}

#define assert_err(want, got)                                                                      \
	do {                                                                                       \
		enum tb_vnet_err g_ = (got), w_ = (want);                                          \
		if (g_ != w_)                                                                      \
			fail_msg("want %s got %s", tb_vnet_err_name(w_), tb_vnet_err_name(g_));    \
	} while (0)

/* vh is accepted for k's packet, with hdr_len set to want. */
static void expect_ok(const struct pk *k, struct tb_vnet_hdr *vh, uint16_t want)
{
	size_t len = build(k, pkt);

	assert_err(TB_VNET_OK, validate(vh, pkt, len));
	assert_int_equal(vh->hdr_len, want);
}

static void good_gso_headers(void **state)
{
	const struct pk *kinds[] = {&TCP4, &TCP6, &UDP4, &UDP6};
	const uint16_t want[] = {40, 60, 28, 48};

	(void)state;
	for (size_t k = 0; k < 4; k++) {
		struct tb_vnet_hdr vh = gso_hdr(kinds[k]);
		/* Whatever the kernel put in hdr_len is replaced. */
		const uint16_t lies[] = {0, 1, 14, 54, 1500, 65535};
		for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
			vh.hdr_len = lies[i];
			expect_ok(kinds[k], &vh, want[k]);
		}
		/* GSO without NEEDS_CSUM: the segmenter computes checksums
		 * from scratch, so it is accepted. */
		vh.flags = 0;
		vh.hdr_len = 0;
		expect_ok(kinds[k], &vh, want[k]);
		vh.flags = TB_VNET_F_NEEDS_CSUM | TB_VNET_F_DATA_VALID;
		expect_ok(kinds[k], &vh, want[k]);
	}
}

static void good_with_options_and_ecn(void **state)
{
	struct pk s = TCP4;
	struct tb_vnet_hdr vh;

	(void)state;
	s.ipopt = 40;
	s.tcpopt = 40;
	vh = gso_hdr(&s);
	vh.hdr_len = 40;
	vh.gso_type |= TB_GSO_ECN;
	expect_ok(&s, &vh, 60 + 60);

	s = TCP6;
	s.tcpopt = 12;
	vh = gso_hdr(&s);
	vh.gso_type |= TB_GSO_ECN;
	expect_ok(&s, &vh, 40 + 32);

	/* One byte of payload, gso_size larger than it: one segment. */
	s = UDP6;
	s.pay = 1;
	vh = gso_hdr(&s);
	vh.gso_size = 65535;
	expect_ok(&s, &vh, 48);
}

static void good_plain_packets(void **state)
{
	struct tb_vnet_hdr vh = {0};
	struct pk s = TCP4;

	(void)state;
	/* No GSO, no NEEDS_CSUM: delivered as it is; hdr_len is the real
	 * headers when they parse, else 0. */
	s.tcpopt = 12;
	vh.hdr_len = 7;
	expect_ok(&s, &vh, 52);
	expect_ok(&UDP6, &vh, 48);
	s = (struct pk){0, 1, 0, 0, 56}; /* ICMP */
	vh.hdr_len = 28;
	expect_ok(&s, &vh, 0);

	/* Garbage and nothing at all are no business of the header. */
	memset(pkt, 0xee, 100);
	assert_err(TB_VNET_OK, validate(&vh, pkt, 100));
	assert_int_equal(vh.hdr_len, 0);
	assert_err(TB_VNET_OK, validate(&vh, pkt, 0));
	vh.flags = TB_VNET_F_DATA_VALID;
	assert_err(TB_VNET_OK, validate(&vh, pkt, 3));
}

static void good_plain_needs_csum(void **state)
{
	struct tb_vnet_hdr vh = {0};

	(void)state;
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.csum_start = 20;
	vh.csum_offset = 6;
	expect_ok(&UDP4, &vh, 28);
	vh.csum_start = 40;
	vh.csum_offset = 16;
	expect_ok(&TCP6, &vh, 60);

	/* A protocol not parsed further: only the bounds and "past the IP
	 * header" are checked. */
	vh.csum_start = 40;
	vh.csum_offset = 2;
	expect_ok(&(struct pk){1, 58, 0, 0, 64}, &vh, 0); /* ICMPv6 */
}

/* One bad header kind per case. */
struct bad {
	const char *what;
	struct pk pk;
	void (*mangle)(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len);
	enum tb_vnet_err want;
};

static void m_flags(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags |= 4;
}
static void m_gso_udp(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = TB_GSO_UDP;
}
static void m_gso_2(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = 2;
}
static void m_gso_7f(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = 0x7f;
}
static void m_gso_ecn_only(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = TB_GSO_ECN;
}
static void m_ecn(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type |= TB_GSO_ECN;
}
static void m_size0(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_size = 0;
}
static void m_cstart_end(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->csum_start = (uint16_t)*len;
	vh->csum_offset = 0;
}
static void m_cstart_far(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->csum_start = 65535;
}
static void m_coff_end(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->csum_offset = (uint16_t)(*len - vh->csum_start - 1); /* one byte short */
}
static void m_coff_far(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->csum_offset = 65535;
}
static void m_trunc_ip4(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags = 0;
	*len = 19;
}
static void m_trunc_ihl(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags = 0;
	p[0] = 0x4f; /* 60 bytes of header in a 40-byte packet */
	tu_put16(p + 2, 40);
	*len = 40;
}
static void m_trunc_ip6(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags = 0;
	*len = 39;
}
static void m_empty(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags = 0;
	*len = 0;
}
static void m_version(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	p[0] = (uint8_t)(0x50 | (p[0] & 0x0f));
}
static void m_ihl4(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	p[0] = 0x44;
}
static void m_iplen_big(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	tu_put16(p + 2, (unsigned)*len + 1);
}
static void m_iplen_small(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	tu_put16(p + 2, (unsigned)*len - 1);
}
static void m_buf_short(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	*len -= 100; /* the IP length now claims more than the buffer */
}
static void m_ip6len(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	tu_put16(p + 4, (unsigned)*len - 40 + 1);
}
static void m_jumbo(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	tu_put16(p + 4, 0);
}
static void m_mf(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	p[6] |= 0x20;
}
static void m_fragoff(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	p[7] = 1;
}
static void m_tcpv6(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = TB_GSO_TCPV6;
}
static void m_tcpv4(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = TB_GSO_TCPV4;
}
static void m_uso(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = TB_GSO_UDP_L4;
}
static void m_hbh(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	p[6] = 0; /* hop-by-hop options first */
}
static void m_trunc_tcp(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags = 0;
	*len = 20 + 19;
	tu_put16(p + 2, (unsigned)*len);
}
static void m_trunc_doff(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags = 0;
	p[20 + 12] = 0xf0; /* 60 bytes of TCP header in 30 */
	*len = 20 + 30;
	tu_put16(p + 2, (unsigned)*len);
}
static void m_trunc_udp6(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->flags = 0;
	*len = 40 + 7;
	tu_put16(p + 4, 7);
}
static void m_doff4(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	p[20 + 12] = 0x40;
}
static void m_udplen(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	tu_put16(p + 20 + 4, (unsigned)*len - 20 - 1);
}
static void m_udplen6(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	tu_put16(p + 40 + 4, 0);
}
static void m_cstart_ip(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->csum_start = 0;
	vh->csum_offset = 10;
}
static void m_coff_tcp(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->csum_offset = 6;
}
static void m_plain_csum_udp_off(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = TB_GSO_NONE;
	vh->csum_offset = 16;
}
static void m_plain_icmp_in_ip(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	vh->gso_type = TB_GSO_NONE;
	p[9] = 1;
	vh->csum_start = 8;
	vh->csum_offset = 2;
}
static void m_none(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
}
static void m_first_wins(struct tb_vnet_hdr *vh, uint8_t *p, size_t *len)
{
	/* Several faults: the one checked first is reported. */
	vh->gso_type = TB_GSO_UDP_L4 | TB_GSO_ECN;
	vh->gso_size = 0;
	p[0] = 0x44;
}

static const struct bad bads[] = {
	{"unknown flag bit", TCP4, m_flags, TB_VNET_E_FLAGS},
	{"UFO", UDP4, m_gso_udp, TB_VNET_E_GSO_TYPE},
	{"gso_type 2", TCP4, m_gso_2, TB_VNET_E_GSO_TYPE},
	{"gso_type 0x7f", TCP4, m_gso_7f, TB_VNET_E_GSO_TYPE},
	{"ECN bit with GSO_NONE", TCP4, m_gso_ecn_only, TB_VNET_E_ECN},
	{"ECN bit on UDP_L4", UDP4, m_ecn, TB_VNET_E_ECN},
	{"ECN bit on UDP_L4 v6", UDP6, m_ecn, TB_VNET_E_ECN},
	{"zero gso_size TCPV4", TCP4, m_size0, TB_VNET_E_GSO_SIZE},
	{"zero gso_size UDP_L4", UDP6, m_size0, TB_VNET_E_GSO_SIZE},
	{"csum_start at the end", TCP4, m_cstart_end, TB_VNET_E_CSUM_START},
	{"csum_start past the end", UDP6, m_cstart_far, TB_VNET_E_CSUM_START},
	{"csum_offset one byte short", TCP6, m_coff_end, TB_VNET_E_CSUM_OFFSET},
	{"csum_offset past the end", UDP4, m_coff_far, TB_VNET_E_CSUM_OFFSET},
	{"IPv4 header cut", TCP4, m_trunc_ip4, TB_VNET_E_IP_TRUNC},
	{"IPv4 IHL past the end", TCP4, m_trunc_ihl, TB_VNET_E_IP_TRUNC},
	{"IPv6 header cut", TCP6, m_trunc_ip6, TB_VNET_E_IP_TRUNC},
	{"empty packet", UDP4, m_empty, TB_VNET_E_IP_TRUNC},
	{"IP version 5", UDP4, m_version, TB_VNET_E_IP_VERSION},
	{"IPv4 IHL 4", TCP4, m_ihl4, TB_VNET_E_IP_IHL},
	{"IPv4 length larger than buffer", TCP4, m_iplen_big, TB_VNET_E_IP_LEN},
	{"buffer shorter than IPv4 length", UDP4, m_buf_short, TB_VNET_E_IP_LEN},
	{"IPv4 length smaller than buffer", TCP4, m_iplen_small, TB_VNET_E_IP_LEN},
	{"IPv6 length larger than buffer", TCP6, m_ip6len, TB_VNET_E_IP_LEN},
	{"buffer shorter than IPv6 length", UDP6, m_buf_short, TB_VNET_E_IP_LEN},
	{"IPv6 jumbogram", UDP6, m_jumbo, TB_VNET_E_IP_LEN},
	{"TSO on an IPv4 fragment (MF)", TCP4, m_mf, TB_VNET_E_IP_FRAG},
	{"USO on an IPv4 fragment (offset)", UDP4, m_fragoff, TB_VNET_E_IP_FRAG},
	{"TCPV6 on IPv4", TCP4, m_tcpv6, TB_VNET_E_GSO_IP},
	{"TCPV4 on IPv6", TCP6, m_tcpv4, TB_VNET_E_GSO_IP},
	{"TCPV4 on UDP", UDP4, m_tcpv4, TB_VNET_E_GSO_PROTO},
	{"TCPV6 on UDP", UDP6, m_tcpv6, TB_VNET_E_GSO_PROTO},
	{"UDP_L4 on TCP", TCP4, m_uso, TB_VNET_E_GSO_PROTO},
	{"UDP_L4 on TCP v6", TCP6, m_uso, TB_VNET_E_GSO_PROTO},
	{"TCPV6 behind an extension header", TCP6, m_hbh, TB_VNET_E_GSO_PROTO},
	{"TCP header cut", TCP4, m_trunc_tcp, TB_VNET_E_L4_TRUNC},
	{"TCP data offset past the end", TCP4, m_trunc_doff, TB_VNET_E_L4_TRUNC},
	{"UDP header cut", UDP6, m_trunc_udp6, TB_VNET_E_L4_TRUNC},
	{"TCP data offset 4", TCP4, m_doff4, TB_VNET_E_TCP_DOFF},
	{"UDP length short by one", UDP4, m_udplen, TB_VNET_E_UDP_LEN},
	{"UDP length 0", UDP6, m_udplen6, TB_VNET_E_UDP_LEN},
	{"TSO with no payload", {0, 6, 0, 0, 0}, m_none, TB_VNET_E_GSO_EMPTY},
	{"USO with no payload", {1, 17, 0, 0, 0}, m_none, TB_VNET_E_GSO_EMPTY},
	{"csum_start in the IP header", TCP4, m_cstart_ip, TB_VNET_E_CSUM_L4},
	{"csum_offset not TCP's", TCP6, m_coff_tcp, TB_VNET_E_CSUM_L4},
	{"plain UDP with TCP's csum_offset", UDP4, m_plain_csum_udp_off, TB_VNET_E_CSUM_L4},
	{"plain ICMP, checksum in the IP header", TCP4, m_plain_icmp_in_ip, TB_VNET_E_CSUM_L4},
	{"several faults", TCP4, m_first_wins, TB_VNET_E_ECN},
};

/* Builds case b's packet into pkt, then mangles it and its header vh. */
static size_t bad_case(const struct bad *b, struct tb_vnet_hdr *vh)
{
	size_t len = build(&b->pk, pkt);

	*vh = gso_hdr(&b->pk);
	b->mangle(vh, pkt, &len);
	return len;
}

static void bad_headers(void **state)
{
	unsigned seen[TB_VNET_E_COUNT] = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct tb_vnet_hdr vh;
		size_t len = bad_case(b, &vh);
		enum tb_vnet_err got = validate(&vh, pkt, len);

		if (got != b->want)
			fail_msg("%s: want %s got %s", b->what, tb_vnet_err_name(b->want),
				 tb_vnet_err_name(got));
		seen[got]++;
	}
	/* Every reason is reachable. */
	for (unsigned e = 1; e < TB_VNET_E_COUNT; e++)
		if (!seen[e])
			fail_msg("no case for %s", tb_vnet_err_name((enum tb_vnet_err)e));
}

/* The bad header also makes tb_segment refuse, before any callback. */
static int count_cb(void *user, const struct iovec *iov, unsigned iovcnt)
{
	(*(unsigned *)user)++;
	return 0;
}

static void segment_refuses_bad(void **state)
{
	static uint8_t out[70000];

	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct tb_vnet_hdr vh;
		size_t len = bad_case(&bads[i], &vh), lens[80];
		unsigned calls = 0;

		assert_int_equal(tb_segment(&vh, pkt, len, count_cb, &calls), -EINVAL);
		assert_int_equal(calls, 0);
		assert_int_equal(tb_segment_into(&vh, pkt, len, out, sizeof(out), lens, 80),
				 -EINVAL);
	}
}

static void names(void **state)
{
	(void)state;
	assert_string_equal(tb_vnet_err_name(TB_VNET_OK), "ok");
	for (unsigned a = 0; a < TB_VNET_E_COUNT; a++) {
		const char *na = tb_vnet_err_name((enum tb_vnet_err)a);
		assert_non_null(na);
		assert_string_not_equal(na, "unknown");
		for (unsigned b = a + 1; b < TB_VNET_E_COUNT; b++)
			assert_string_not_equal(na, tb_vnet_err_name((enum tb_vnet_err)b));
	}
	assert_string_equal(tb_vnet_err_name(TB_VNET_E_COUNT), "unknown");
	assert_string_equal(tb_vnet_err_name((enum tb_vnet_err)(TB_VNET_E_COUNT + 5)), "unknown");
}

/* Every prefix of good packets and random headers and bytes: anything may
 * be refused, nothing may be read out of bounds (the sanitizer watches the
 * exact-size copies), and what is accepted segments without trouble. */
static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static int touch_cb(void *user, const struct iovec *iov, unsigned iovcnt)
{
	unsigned *sum = user;

	for (unsigned i = 0; i < iovcnt; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++)
			*sum += ((const uint8_t *)iov[i].iov_base)[j];
	return 0;
}

static void check_any(struct tb_vnet_hdr vh, const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct tb_vnet_hdr v = vh;
	enum tb_vnet_err err;
	unsigned sum = 0;
	int n;

	assert_non_null(copy);
	memcpy(copy, p, len);
	err = tb_vnet_validate(&v, copy, len);
	assert_true((unsigned)err < TB_VNET_E_COUNT);
	n = tb_segment(&vh, copy, len, touch_cb, &sum);
	if (err == TB_VNET_OK && len > 0) {
		assert_true(n >= 1);
		assert_true(v.hdr_len <= len);
	} else if (err == TB_VNET_OK) {
		assert_int_equal(n, -EINVAL); /* nothing to deliver */
	} else {
		assert_int_equal(n, -EINVAL);
	}
	n = tb_csum_finish(&vh, copy, len);
	assert_true(n == 0 || n == -EINVAL);
	free(copy);
}

static void no_out_of_bounds(void **state)
{
	const struct pk kinds[] = {TCP4, TCP6, UDP4, UDP6, {0, 6, 40, 40, 200}, {1, 6, 0, 40, 9}};

	(void)state;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct pk s = kinds[k];
		size_t full;
		s.pay = s.pay > 300 ? 300 : s.pay;
		full = build(&s, pkt);
		for (size_t len = 0; len <= full; len++) {
			struct tb_vnet_hdr vh = gso_hdr(&s);
			vh.gso_size = 100;
			check_any(vh, pkt, len);
			vh.flags = 0;
			check_any(vh, pkt, len);
			vh.gso_type = TB_GSO_NONE;
			check_any(vh, pkt, len);
			vh.flags = TB_VNET_F_NEEDS_CSUM;
			check_any(vh, pkt, len);
		}
	}
	for (unsigned trial = 0; trial < 20000; trial++) {
		struct pk s = kinds[rnd() % 6];
		size_t len;
		unsigned r = rnd();
		s.pay = s.pay > 300 ? 300 : s.pay;
		len = build(&s, pkt);
		struct tb_vnet_hdr vh = gso_hdr(&s);
		/* Flip a few bytes of the headers, and maybe the header fields. */
		for (unsigned f = 0; f < 1 + r % 4; f++)
			pkt[rnd() % 80] ^= (uint8_t)(1u << (rnd() % 8));
		if (r & 0x100)
			vh.gso_type = (uint8_t)rnd();
		if (r & 0x200)
			vh.flags = (uint8_t)(rnd() & 7);
		if (r & 0x400)
			vh.csum_start = (uint16_t)(rnd() % (len + 4));
		if (r & 0x800)
			vh.csum_offset = (uint16_t)(rnd() % 64);
		if (r & 0x1000)
			vh.gso_size = (uint16_t)(rnd() % 3);
		if (r & 0x2000)
			len = rnd() % (len + 1);
		check_any(vh, pkt, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_gso_headers),
		cmocka_unit_test(good_with_options_and_ecn),
		cmocka_unit_test(good_plain_packets),
		cmocka_unit_test(good_plain_needs_csum),
		cmocka_unit_test(bad_headers),
		cmocka_unit_test(segment_refuses_bad),
		cmocka_unit_test(names),
		cmocka_unit_test(no_out_of_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
