/* SPDX-License-Identifier: MIT */
/*
 * tb_segment, tb_segment_into and tb_csum_finish. Every packet they produce
 * is compared byte by byte with one built independently (testutil's
 * builders, checksums computed the slow way); then packets coalesced by the
 * library and cut back must come out as they went in.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { TCP = 6, UDP = 17 };

static uint8_t payload[420000];

static void init_payload(void)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(payload); i++) {
		x = x * 1103515245u + 12345u;
		payload[i] = (uint8_t)(x >> 16);
	}
}

/* Addresses 10.0.a.1 > 10.0.a.2 or fd00::a01 > fd00::a02: a per flow. */
static void set_addr(struct tu_spec *s, uint8_t a)
{
	s->src[s->v6 ? 14 : 2] = s->dst[s->v6 ? 14 : 2] = a;
}

/* A packet of the flows cut here; the payload comes from the table. */
static struct tu_spec spec(int v6, uint8_t proto)
{
	struct tu_spec s = proto == TCP ? tu_tcp(v6) : tu_udp(v6);

	s.tos = v6 && proto == TCP ? 0x28 : 0;
	s.flow = 0xabcde;
	s.ack = 77;
	s.win = 502;
	s.sport = proto == TCP ? 40000 : 5000;
	s.dport = proto == TCP ? 443 : 51820;
	s.pay = payload;
	s.len = 0;
	set_addr(&s, 1);
	return s;
}

/* TCP options: NOP NOP, then bytes no parser knows. */
static void set_opts(struct tu_spec *s, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		s->opts[i] = (uint8_t)(i < 2 ? 1 : 0x40 + 20 + i);
	s->optlen = (uint8_t)len;
}

static unsigned csum_off(const struct tu_spec *s)
{
	return s->proto == TCP ? 16 : 6;
}

static size_t build(const struct tu_spec *s, uint8_t *out)
{
	return tu_build(s, out, 70000);
}

/* The pseudo-header sum of a packet (folded, not inverted). */
static uint16_t pseudo_only(const uint8_t *p, size_t len, const struct tu_spec *s)
{
	return tu_fold(tu_pseudo(p, s->proto, (uint32_t)(len - tu_spec_iphl(s))));
}

/* Pseudo-header plus L4 header and payload with the checksum field read as
 * zero: the folded sum the checksum complements. */
static uint16_t l4_sum(const uint8_t *p, size_t len, const struct tu_spec *s)
{
	size_t ih = tu_spec_iphl(s), l4len = len - ih, off = csum_off(s);
	uint32_t sum = tu_pseudo(p, s->proto, (uint32_t)l4len);

	sum = tu_sum(p + ih, off, sum);
	return tu_fold(tu_sum(p + ih + off + 2, l4len - off - 2, sum));
}

/* Independent check that a produced packet's checksums verify. */
static void assert_csums_verify(const uint8_t *p, size_t len)
{
	int v6 = p[0] >> 4 == 6;
	size_t ih = v6 ? 40 : (size_t)(p[0] & 15) * 4;
	uint8_t proto = v6 ? p[6] : p[9];

	if (!v6)
		assert_int_equal(tu_fold(tu_sum(p, ih, 0)), 0xffff);
	assert_int_equal(
		tu_fold(tu_sum(p + ih, len - ih, tu_pseudo(p, proto, (uint32_t)(len - ih)))),
		0xffff);
}

/* ------------------------------------------------------------------------ */
/* Superpackets and the segments they must give                             */
/* ------------------------------------------------------------------------ */

#define MAX_OUT 80

struct expect {
	uint8_t buf[2 * 70000];
	size_t off[MAX_OUT], len[MAX_OUT];
	unsigned n;
};

/* Segment i of super (payload total, mss) built from scratch. */
static void expected_segments(const struct tu_spec *super, size_t total, size_t mss,
			      struct expect *e)
{
	size_t pos = 0;
	unsigned n = (unsigned)((total + mss - 1) / mss);

	assert_true(n <= MAX_OUT);
	e->n = n;
	for (unsigned i = 0; i < n; i++) {
		struct tu_spec s = *super;
		s.pay = super->pay + i * mss;
		s.len = (uint32_t)(total - i * mss < mss ? total - i * mss : mss);
		s.id = (uint16_t)(super->id + i);
		s.seq = super->seq + (uint32_t)(i * mss);
		if (i + 1 < n)
			s.flags &= (uint8_t) ~(TU_FIN | TU_PSH);
		if (i > 0)
			s.flags &= (uint8_t)~TU_CWR;
		e->off[i] = pos;
		e->len[i] = build(&s, e->buf + pos);
		pos += e->len[i];
	}
}

/* The superpacket as the kernel hands it over: whole lengths, the first
 * segment's ID and sequence number, and the pseudo-header sum (folded, not
 * inverted) in the checksum field. */
static size_t build_super(const struct tu_spec *s, size_t total, uint8_t *out)
{
	struct tu_spec t = *s;
	size_t len;

	t.len = (uint32_t)total;
	len = build(&t, out);
	tu_put16(out + tu_spec_iphl(s) + csum_off(s), pseudo_only(out, len, s));
	return len;
}

/* hdr_len 0: never trusted. */
static struct tb_vnet_hdr gso_hdr(const struct tu_spec *s, size_t mss)
{
	struct tb_vnet_hdr vh = tu_gso_hdr(s, (uint16_t)mss);

	vh.hdr_len = 0;
	return vh;
}

/* What the callback saw. */
struct got {
	uint8_t buf[2 * 70000];
	size_t off[MAX_OUT + 1], len[MAX_OUT + 1];
	unsigned n, iovcnt[MAX_OUT + 1];
	const uint8_t *pkt; /* the input: payload must point into it */
	size_t pkt_len;
	size_t used;
	unsigned fail_at; /* 1-based call that fails, 0: none */
	int fail_rc;
};

static int collect(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct got *g = user;
	size_t len = 0;

	assert_true(g->n < MAX_OUT + 1);
	if (g->fail_at && g->n + 1 == g->fail_at)
		return g->fail_rc;
	g->off[g->n] = g->used;
	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(g->buf + g->used + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	/* A segment's payload is a slice of the superpacket, not a copy. */
	if (iovcnt == 2 && g->pkt) {
		const uint8_t *b = iov[1].iov_base;
		assert_true(b >= g->pkt && b + iov[1].iov_len <= g->pkt + g->pkt_len);
	}
	g->len[g->n] = len;
	g->iovcnt[g->n] = iovcnt;
	g->used += len;
	g->n++;
	return 0;
}

static struct got *new_got(const uint8_t *pkt, size_t len)
{
	struct got *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->pkt = pkt;
	g->pkt_len = len;
	return g;
}

static void assert_same(const struct expect *e, const uint8_t *buf, const size_t *off,
			const size_t *len, unsigned n)
{
	assert_int_equal(n, e->n);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *a = e->buf + e->off[i], *b = buf + off[i];
		if (len[i] != e->len[i])
			fail_msg("segment %u: length %zu, want %zu", i, len[i], e->len[i]);
		for (size_t j = 0; j < len[i]; j++)
			if (a[j] != b[j])
				fail_msg("segment %u of %u: byte %zu is %02x, want %02x", i, n, j,
					 b[j], a[j]);
		assert_csums_verify(b, len[i]);
	}
}

/* Cuts one superpacket both ways and compares with the independent build,
 * which it returns. */
static const struct expect *check_super(const struct tu_spec *s, size_t total, size_t mss,
					uint8_t gso_extra)
{
	static uint8_t pkt[70000], out[2 * 70000];
	static struct expect e;
	size_t lens[MAX_OUT];
	size_t len = build_super(s, total, pkt);
	struct tb_vnet_hdr vh = gso_hdr(s, mss);
	struct got *g = new_got(pkt, len);
	size_t need;
	int n;

	vh.gso_type |= gso_extra;
	expected_segments(s, total, mss, &e);
	n = tb_segment(&vh, pkt, len, collect, g);
	assert_int_equal(n, e.n);
	for (unsigned i = 0; i < g->n; i++)
		assert_int_equal(g->iovcnt[i], 2);
	assert_same(&e, g->buf, g->off, g->len, g->n);

	memset(out, 0xa5, sizeof(out));
	need = e.off[e.n - 1] + e.len[e.n - 1];
	n = tb_segment_into(&vh, pkt, len, out, need, lens, e.n);
	assert_int_equal(n, e.n);
	{
		size_t offs[MAX_OUT], pos = 0;
		for (unsigned i = 0; i < e.n; i++) {
			offs[i] = pos;
			pos += lens[i];
		}
		assert_int_equal(pos, need);
		assert_same(&e, out, offs, lens, e.n);
		assert_int_equal(out[need], 0xa5); /* nothing past the end */
	}
	/* The input was not touched. */
	{
		static uint8_t again[70000];
		assert_int_equal(build_super(s, total, again), len);
		assert_memory_equal(again, pkt, len);
	}
	free(g);
	return &e;
}

static void tso4_sizes(void **state)
{
	struct tu_spec s = spec(0, TCP);

	(void)state;
	check_super(&s, 1448 * 3 + 100, 1448, 0); /* last segment shorter */
	check_super(&s, 1448 * 4, 1448, 0);	  /* exactly divisible */
	check_super(&s, 500, 1448, 0);		  /* one segment, shorter than mss */
	check_super(&s, 1448, 1448, 0);		  /* one segment, exactly mss */
	check_super(&s, 45 * 1000, 1000, 0);	  /* 45 segments */
	check_super(&s, 7, 1, 0);		  /* 1-byte segments */
	check_super(&s, 65535 - 40, 1460, 0);	  /* the largest superpacket */
}

static void tso6_sizes(void **state)
{
	struct tu_spec s = spec(1, TCP);

	(void)state;
	check_super(&s, 1428 * 3 + 1, 1428, 0);
	check_super(&s, 1428 * 5, 1428, 0);
	check_super(&s, 1, 1428, 0);
	check_super(&s, 45 * 1200, 1200, 0);
	check_super(&s, 65535 - 60 + 40 - 40, 1440, 0);
}

static void uso4_sizes(void **state)
{
	struct tu_spec s = spec(0, UDP);

	(void)state;
	check_super(&s, 1200 * 5 + 1, 1200, 0);
	check_super(&s, 1200 * 5, 1200, 0);
	check_super(&s, 1200, 1200, 0);
	check_super(&s, 45 * 1300, 1300, 0);
	check_super(&s, 3, 2, 0); /* odd lengths */
}

static void uso6_sizes(void **state)
{
	struct tu_spec s = spec(1, UDP);

	(void)state;
	check_super(&s, 1232 * 2 + 617, 1232, 0);
	check_super(&s, 1232 * 8, 1232, 0);
	check_super(&s, 10, 1232, 0);
	check_super(&s, 45 * 1400, 1400, 0);
}

/* FIN and PSH go to the last segment only, CWR to the first only; ECE and
 * the rest stay on every one. */
static void tcp_flags_placement(void **state)
{
	struct tu_spec s = spec(0, TCP);

	(void)state;
	s.flags = TU_ACK | TU_PSH | TU_FIN | TU_CWR | TU_ECE;
	check_super(&s, 1000 * 4 + 10, 1000, TB_GSO_ECN);
	check_super(&s, 1000, 1000, TB_GSO_ECN); /* one segment keeps them all */
	s = spec(1, TCP);
	s.flags = TU_ACK | TU_PSH | TU_CWR;
	check_super(&s, 1000 * 2, 1000, TB_GSO_ECN);
	s.flags = TU_ACK | TU_FIN;
	check_super(&s, 1000 * 3 - 1, 1000, 0);
}

/* IP and TCP options are copied into every segment; the ID and the
 * sequence number wrap. */
static void options_and_wrap(void **state)
{
	struct tu_spec s = spec(0, TCP);

	(void)state;
	s.ipopt_len = 12;
	set_opts(&s, 12);
	s.id = 0xfffe;
	s.seq = 0xffffffffu - 2500;
	check_super(&s, 1000 * 6 + 3, 1000, 0);
	s.ipopt_len = 40;
	set_opts(&s, 40);
	check_super(&s, 500 * 9, 500, 0);
	s = spec(1, TCP);
	set_opts(&s, 40);
	s.seq = 0xfffffff0u;
	check_super(&s, 1000 * 3, 1000, 0);
	s = spec(0, UDP);
	s.ipopt_len = 8;
	s.id = 0xffff;
	s.df = 0;
	check_super(&s, 1000 * 3, 1000, 0);
}

/* The superpacket's own checksum field, whatever it holds, has no say. */
static void csum_field_not_trusted(void **state)
{
	static uint8_t pkt[70000];
	static struct expect e;
	struct tu_spec s = spec(1, TCP);
	size_t len = build_super(&s, 3000, pkt);
	struct tb_vnet_hdr vh = gso_hdr(&s, 1000);
	struct got *g = new_got(pkt, len);

	(void)state;
	tu_put16(pkt + 40 + 16, 0xdead);
	vh.flags = 0; /* and no NEEDS_CSUM at all */
	expected_segments(&s, 3000, 1000, &e);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 3);
	assert_same(&e, g->buf, g->off, g->len, g->n);
	free(g);
}

/* Sets two payload bytes at pay_at so that the segment's checksum computes
 * to 0. The segment s (with its payload) is built into scratch to find the
 * sum; the two bytes sit at an even offset from the L4 header. */
static void force_zero_csum(struct tu_spec *seg, uint8_t *pay_at)
{
	static uint8_t tmp[70000];
	size_t len;
	uint16_t sum;

	pay_at[0] = pay_at[1] = 0;
	len = build(seg, tmp);
	sum = l4_sum(tmp, len, seg);
	tu_put16(pay_at, (unsigned)(0xffff - sum)); /* sum + x = ffff: complement 0 */
}

/* A UDP checksum that computes to 0 goes out as ffff; a TCP one stays 0. */
static void zero_checksums(void **state)
{
	struct tu_spec s = spec(0, UDP), seg;
	const struct expect *e;

	(void)state;
	/* Segment 2 of 4 of a USO superpacket. */
	s.pay = payload + 20000;
	seg = s;
	seg.pay = s.pay + 2 * 1000;
	seg.len = 1000;
	force_zero_csum(&seg, payload + 20000 + 2 * 1000 + 10);
	e = check_super(&s, 4000, 1000, 0);
	assert_int_equal(e->n, 4);
	assert_int_equal(tu_get16(e->buf + e->off[2] + 20 + 6), 0xffff);

	/* The same on IPv6. */
	s = spec(1, UDP);
	s.pay = payload + 30000;
	seg = s;
	seg.len = 900;
	force_zero_csum(&seg, payload + 30000 + 100);
	e = check_super(&s, 2000, 900, 0);
	assert_int_equal(e->n, 3);
	assert_int_equal(tu_get16(e->buf + e->off[0] + 40 + 6), 0xffff);

	/* TCP: the last segment's checksum is 0 and stays 0. */
	s = spec(0, TCP);
	s.pay = payload + 40000;
	s.flags = TU_ACK | TU_PSH;
	seg = s;
	seg.pay = s.pay + 2 * 1000;
	seg.len = 500;
	seg.seq = s.seq + 2000;
	seg.id = (uint16_t)(s.id + 2);
	force_zero_csum(&seg, payload + 40000 + 2000 + 100);
	e = check_super(&s, 2500, 1000, 0);
	assert_int_equal(e->n, 3);
	assert_int_equal(tu_get16(e->buf + e->off[2] + 20 + 16), 0);
	init_payload();
}

/* ------------------------------------------------------------------------ */
/* Plain packets and tb_csum_finish                                          */
/* ------------------------------------------------------------------------ */

/* A NEEDS_CSUM packet as the kernel sends it: the pseudo-header sum in the
 * field. want gets the finished packet. */
static size_t partial_of(const struct tu_spec *s, uint8_t *pkt, uint8_t *want,
			 struct tb_vnet_hdr *vh)
{
	size_t len = build(s, want), ih = tu_spec_iphl(s);
	unsigned off = csum_off(s);

	memcpy(pkt, want, len);
	tu_put16(pkt + ih + off, pseudo_only(pkt, len, s));
	memset(vh, 0, sizeof(*vh));
	vh->flags = TB_VNET_F_NEEDS_CSUM;
	vh->csum_start = (uint16_t)ih;
	vh->csum_offset = (uint16_t)off;
	vh->hdr_len = 9999;
	return len;
}

static void plain_needs_csum(void **state)
{
	static uint8_t pkt[70000], want[70000], out[70000];
	struct tu_spec kinds[] = {spec(0, TCP), spec(1, TCP), spec(0, UDP), spec(1, UDP)};

	(void)state;
	for (size_t k = 0; k < 4; k++) {
		size_t lens_[] = {0, 1, 100, 1401};
		for (size_t l = 0; l < 4; l++) {
			struct tb_vnet_hdr vh;
			struct got *g;
			size_t len, sl[2];
			kinds[k].len = lens_[l];
			kinds[k].flags = TU_ACK | TU_PSH;
			len = partial_of(&kinds[k], pkt, want, &vh);
			g = new_got(NULL, 0);
			assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 1);
			assert_int_equal(g->len[0], len);
			assert_memory_equal(g->buf, want, len);
			assert_csums_verify(g->buf, len);
			free(g);

			assert_int_equal(tb_segment_into(&vh, pkt, len, out, len, sl, 1), 1);
			assert_int_equal(sl[0], len);
			assert_memory_equal(out, want, len);
			assert_int_equal(tb_segment_into(&vh, pkt, len, out, len - 1, sl, 1),
					 -ENOBUFS);
			assert_int_equal(tb_segment_into(&vh, pkt, len, out, len, sl, 0), -ENOBUFS);

			assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
			assert_memory_equal(pkt, want, len);
		}
	}
}

/* UDP 0 becomes ffff, in tb_segment and tb_csum_finish; TCP 0 stays. */
static void plain_zero_checksum(void **state)
{
	static uint8_t pkt[3000], want[3000];
	struct tu_spec s = spec(1, UDP);
	struct tb_vnet_hdr vh;
	struct got *g;
	size_t len;

	(void)state;
	s.len = 333;
	force_zero_csum(&s, payload + 4);
	len = partial_of(&s, pkt, want, &vh);
	assert_int_equal(tu_get16(want + 40 + 6), 0xffff);
	g = new_got(NULL, 0);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 1);
	assert_memory_equal(g->buf, want, len);
	free(g);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(tu_get16(pkt + 40 + 6), 0xffff);

	s = spec(0, UDP);
	s.len = 40;
	force_zero_csum(&s, payload + 30);
	len = partial_of(&s, pkt, want, &vh);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(tu_get16(pkt + 20 + 6), 0xffff);
	assert_memory_equal(pkt, want, len);

	s = spec(0, TCP);
	s.len = 41;
	force_zero_csum(&s, payload + 8);
	len = partial_of(&s, pkt, want, &vh);
	assert_int_equal(tu_get16(want + 20 + 16), 0);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(tu_get16(pkt + 20 + 16), 0);
	g = new_got(NULL, 0);
	memcpy(pkt, want, len);
	tu_put16(pkt + 36, pseudo_only(pkt, len, &s));
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 1);
	assert_memory_equal(g->buf, want, len);
	free(g);
	init_payload();
}

/* UDP behind an IPv6 hop-by-hop header: still UDP for the 0 rule. */
static void finish_udp_behind_extension(void **state)
{
	static uint8_t pkt[2000];
	struct tb_vnet_hdr vh = {0};
	size_t len = 40 + 8 + 8 + 64;
	uint32_t s;
	uint16_t x;

	(void)state;
	memset(pkt, 0, len);
	pkt[0] = 0x60;
	tu_put16(pkt + 4, (unsigned)(len - 40));
	pkt[6] = 0; /* hop-by-hop */
	pkt[7] = 64;
	pkt[8] = 0xfd;
	pkt[23] = 1;
	pkt[24] = 0xfd;
	pkt[39] = 2;
	pkt[40] = 17; /* then UDP */
	pkt[41] = 0;  /* 8 bytes */
	pkt[42] = 1;  /* PadN */
	pkt[43] = 4;
	tu_put16(pkt + 48, 1);
	tu_put16(pkt + 50, 2);
	tu_put16(pkt + 52, 8 + 64);
	for (size_t i = 2; i < 64; i++)
		pkt[56 + i] = (uint8_t)i;
	/* Pseudo-header (UDP length, proto 17) plus the UDP bytes; two payload
	 * bytes make the total ffff. */
	s = tu_sum(pkt + 8, 32, 0) + 72 + 17;
	s = tu_sum(pkt + 48, 72, s);
	x = (uint16_t)(0xffff - tu_fold(s));
	tu_put16(pkt + 56, x);
	assert_int_equal(tu_fold(tu_sum(pkt + 8, 32, 0) + 72 + 17 + tu_sum(pkt + 48, 72, 0)),
			 0xffff);
	tu_put16(pkt + 54, tu_fold(tu_sum(pkt + 8, 32, 0) + 72 + 17));
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.csum_start = 48;
	vh.csum_offset = 6;
	assert_int_equal(tb_vnet_validate(&vh, pkt, len), TB_VNET_OK);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(tu_get16(pkt + 54), 0xffff);
}

static void finish_bounds(void **state)
{
	uint8_t pkt[64], before[64];
	struct tb_vnet_hdr vh = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 13);
	memcpy(before, pkt, sizeof(pkt));
	/* No NEEDS_CSUM: nothing to do, even with nonsense offsets. */
	vh.csum_start = 1000;
	assert_int_equal(tb_csum_finish(&vh, pkt, sizeof(pkt)), 0);
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	assert_int_equal(tb_csum_finish(&vh, pkt, sizeof(pkt)), -EINVAL);
	vh.csum_start = 62;
	vh.csum_offset = 1;
	assert_int_equal(tb_csum_finish(&vh, pkt, sizeof(pkt)), -EINVAL);
	vh.csum_start = 64;
	vh.csum_offset = 0;
	assert_int_equal(tb_csum_finish(&vh, pkt, sizeof(pkt)), -EINVAL);
	assert_int_equal(tb_csum_finish(NULL, pkt, sizeof(pkt)), -EINVAL);
	assert_memory_equal(pkt, before, sizeof(pkt));
	/* The field's last byte is the packet's last byte: allowed. The field
	 * is summed as it is (the pseudo-header sum goes in it). */
	vh.csum_start = 60;
	vh.csum_offset = 2;
	assert_int_equal(tb_csum_finish(&vh, pkt, sizeof(pkt)), 0);
	assert_memory_equal(pkt, before, 62);
	assert_int_equal(tu_get16(pkt + 62),
			 (uint16_t)~tu_fold(tu_sum(before + 60, 4, 0)) & 0xffff);
}

/* A plain packet without NEEDS_CSUM comes out as it is, one iovec; one with
 * a checksum field deep in the packet (past any header scratch) is put
 * together from three pieces. */
static void plain_passthrough_and_deep_field(void **state)
{
	static uint8_t pkt[1000], want[1000];
	struct tb_vnet_hdr vh = {0};
	struct got *g = new_got(NULL, 0);
	struct tu_spec s = spec(0, TCP);
	size_t len;

	(void)state;
	s.len = 300;
	len = build(&s, pkt);
	tu_put16(pkt + 36, 0xbeef); /* a wrong checksum passes untouched */
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 1);
	assert_int_equal(g->iovcnt[0], 1);
	assert_int_equal(g->len[0], len);
	assert_memory_equal(g->buf, pkt, len);
	free(g);

	/* An unknown protocol with its checksum at byte 300. */
	memset(pkt, 0, 600);
	pkt[0] = 0x45;
	tu_put16(pkt + 2, 600);
	pkt[8] = 9;
	pkt[9] = 253;
	for (size_t i = 20; i < 600; i++)
		pkt[i] = (uint8_t)(i * 31);
	memcpy(want, pkt, 600);
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.csum_start = 20;
	vh.csum_offset = 280;
	tu_put16(want + 300, (uint16_t)~tu_fold(tu_sum(pkt + 20, 580, 0)) & 0xffff);
	g = new_got(NULL, 0);
	assert_int_equal(tb_segment(&vh, pkt, 600, collect, g), 1);
	assert_int_equal(g->iovcnt[0], 3);
	assert_memory_equal(g->buf, want, 600);
	free(g);
	/* And the field as the very last bytes: nothing after it. */
	vh.csum_offset = 578;
	memcpy(want, pkt, 600);
	tu_put16(want + 598, (uint16_t)~tu_fold(tu_sum(pkt + 20, 580, 0)) & 0xffff);
	g = new_got(NULL, 0);
	assert_int_equal(tb_segment(&vh, pkt, 600, collect, g), 1);
	assert_int_equal(g->iovcnt[0], 2);
	assert_memory_equal(g->buf, want, 600);
	free(g);
	assert_int_equal(tb_csum_finish(&vh, pkt, 600), 0);
	assert_memory_equal(pkt, want, 600);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

static void enobufs(void **state)
{
	static uint8_t pkt[70000], out[70000];
	struct tu_spec s = spec(0, TCP);
	size_t len = build_super(&s, 4000, pkt), lens[8];
	struct tb_vnet_hdr vh = gso_hdr(&s, 1000);
	size_t need = 4 * 40 + 4000;

	(void)state;
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(tb_segment_into(&vh, pkt, len, out, need - 1, lens, 8), -ENOBUFS);
	assert_int_equal(tb_segment_into(&vh, pkt, len, out, need, lens, 3), -ENOBUFS);
	assert_int_equal(tb_segment_into(&vh, pkt, len, out, 0, lens, 8), -ENOBUFS);
	for (size_t i = 0; i < sizeof(out); i++)
		if (out[i] != 0x5a)
			fail_msg("byte %zu written on -ENOBUFS", i);
	assert_int_equal(tb_segment_into(&vh, pkt, len, out, need, lens, 4), 4);
	assert_int_equal(lens[0] + lens[1] + lens[2] + lens[3], need);
	assert_int_equal(out[need], 0x5a);
	/* seg_lens may be NULL. */
	assert_int_equal(tb_segment_into(&vh, pkt, len, out, need, NULL, 4), 4);
	assert_int_equal(tb_segment_into(&vh, pkt, len, NULL, need, lens, 4), -EINVAL);
}

/* tb_segment with a callback that fails its call at (1-based) with rc, and
 * that checks payload slices point into in (NULL: not checked). Returns what
 * tb_segment returned; *n is how many calls went through. */
static int fail_call(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len,
		     const uint8_t *in, unsigned at, int rc, unsigned *n)
{
	struct got *g = new_got(in, in ? len : 0);
	int ret;

	g->fail_at = at;
	g->fail_rc = rc;
	ret = tb_segment(vh, pkt, len, collect, g);
	*n = g->n;
	free(g);
	return ret;
}

static void callback_errors(void **state)
{
	static uint8_t pkt[70000];
	struct tu_spec s = spec(1, UDP);
	size_t len = build_super(&s, 5000, pkt);
	struct tb_vnet_hdr vh = gso_hdr(&s, 1000);
	struct got *g;
	unsigned n;

	(void)state;
	assert_int_equal(fail_call(&vh, pkt, len, pkt, 3, -EIO, &n), -EIO);
	assert_int_equal(n, 2); /* two delivered, the third failed, no more */
	assert_int_equal(fail_call(&vh, pkt, len, pkt, 1, -EAGAIN, &n), -EAGAIN);
	assert_int_equal(n, 0);
	/* Positive: stops too. */
	assert_int_equal(fail_call(&vh, pkt, len, pkt, 5, 1, &n), -ECANCELED);
	assert_int_equal(n, 4);

	/* Plain packets: the one call's failure is returned. */
	vh = (struct tb_vnet_hdr){0};
	assert_int_equal(fail_call(&vh, pkt, len, NULL, 1, -ENOSPC, &n), -ENOSPC);
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.csum_start = 40;
	vh.csum_offset = 6;
	assert_int_equal(fail_call(&vh, pkt, len, NULL, 1, -EMSGSIZE, &n), -EMSGSIZE);

	/* Bad arguments and a refused header: -EINVAL, no call. */
	g = new_got(NULL, 0);
	vh = gso_hdr(&s, 0);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), -EINVAL);
	vh = gso_hdr(&s, 1000);
	assert_int_equal(tb_segment(NULL, pkt, len, collect, g), -EINVAL);
	assert_int_equal(tb_segment(&vh, NULL, len, collect, g), -EINVAL);
	assert_int_equal(tb_segment(&vh, pkt, len, NULL, g), -EINVAL);
	assert_int_equal(tb_segment(&vh, pkt, 0, collect, g), -EINVAL);
	assert_int_equal(g->n, 0);
	free(g);
}

/* ------------------------------------------------------------------------ */
/* Round trip through the coalescer                                          */
/* ------------------------------------------------------------------------ */

#define RT_MAX 600

struct rt {
	uint8_t *pkt[RT_MAX];
	size_t len[RT_MAX];
	int flow[RT_MAX];
	unsigned seen[RT_MAX]; /* 1 + the order it came out in, 0: not yet */
	unsigned n, out;
};

static void rt_add(struct rt *r, const struct tu_spec *s)
{
	assert_true(r->n < RT_MAX);
	r->flow[r->n] = s->src[s->v6 ? 14 : 2];
	r->pkt[r->n] = malloc(70000);
	assert_non_null(r->pkt[r->n]);
	r->len[r->n] = build(s, r->pkt[r->n]);
	r->n++;
}

/* A TCP flow: n segments of mss (last one last_len), PSH on the last. */
struct flow {
	struct tu_spec s;
	size_t pay_off;
	unsigned left;
};

static void flow_next(struct rt *r, struct flow *f, size_t seg, int last)
{
	struct tu_spec p = f->s;

	p.pay = payload + f->pay_off;
	p.len = seg;
	if (last && p.proto == 6)
		p.flags |= TU_PSH;
	rt_add(r, &p);
	f->s.seq += (uint32_t)seg;
	f->s.id++;
	f->pay_off += seg;
}

struct match {
	struct rt *r;
	unsigned found;
	unsigned bad;
};

static int match_cb(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct match *m = user;
	static uint8_t buf[70000];
	size_t len = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	for (unsigned i = 0; i < m->r->n; i++) {
		if (!m->r->seen[i] && m->r->len[i] == len && !memcmp(m->r->pkt[i], buf, len)) {
			m->r->seen[i] = ++m->r->out;
			m->found++;
			return 0;
		}
	}
	m->bad++;
	return 0;
}

static void round_trip(void **state)
{
	struct rt *r = calloc(1, sizeof(*r));
	struct tb_capture *cap = tb_capture_create(TB_CAP_TSO | TB_CAP_USO);
	struct tb_arena *arena = tb_arena_create(0);
	struct tb_coalescer *c;
	struct flow f[6];
	struct match m = {0};
	struct tb_stats st;
	unsigned supers = 0;

	(void)state;
	assert_non_null(r);
	assert_non_null(cap);
	assert_non_null(arena);
	c = tb_coalescer_create(tb_capture_writer(cap), arena, NULL);
	assert_non_null(c);

	f[0].s = spec(0, TCP);
	f[1].s = spec(1, TCP);
	f[2].s = spec(0, UDP);
	f[3].s = spec(1, UDP);
	f[4].s = spec(0, TCP);
	f[5].s = spec(1, UDP);
	for (int i = 0; i < 6; i++) {
		set_addr(&f[i].s, (uint8_t)(i + 1));
		f[i].s.sport = (uint16_t)(30000 + i);
		f[i].pay_off = (size_t)i * 66000;
		f[i].s.df = i != 2; /* flow 2: DF clear, sequential IDs */
	}
	set_opts(&f[4].s, 12);
	f[4].s.ipopt_len = 0;
	/* Interleaved: flow 0 with 30 segments of 1400 then a short one; flow 1
	 * 20 of 1200, PSH on the last; UDP flows of equal datagrams and one
	 * short; flow 4 70 segments of 900 (crosses the 64-segment cap); flow
	 * 5 50 datagrams of 1400 (crosses the byte cap). */
	for (unsigned i = 0; i < 70; i++) {
		if (i < 30)
			flow_next(r, &f[0], 1400, 0);
		else if (i == 30)
			flow_next(r, &f[0], 333, 1);
		if (i < 20)
			flow_next(r, &f[1], 1200, i == 19);
		if (i < 12)
			flow_next(r, &f[2], i == 11 ? 500 : 1000, 0);
		if (i < 40)
			flow_next(r, &f[3], 1232, 0);
		flow_next(r, &f[4], 900, i == 69);
		if (i < 50)
			flow_next(r, &f[5], 1400, 0);
	}
	/* A pure ACK, a SYN and an ICMP packet: all verbatim. */
	{
		struct tu_spec s = spec(0, TCP);
		set_addr(&s, 9);
		rt_add(r, &s);
		s.flags = TU_SYN;
		rt_add(r, &s);
		s.proto = 1;
		s.len = 56;
		s.pay = payload;
		rt_add(r, &s);
	}
	for (unsigned i = 0; i < r->n; i++)
		assert_int_equal(tb_coalescer_commit(c, r->pkt[i], r->len[i]), 0);
	assert_int_equal(tb_coalescer_flush(c), 0);
	tb_coalescer_stats(c, &st);
	/* Chains ended by every rule the flows were built to hit. */
	assert_int_equal(st.superpackets, 8);
	assert_true(st.why[TB_WHY_SEG_CAP] >= 1);
	assert_true(st.why[TB_WHY_BYTE_CAP] >= 1);
	assert_true(st.why[TB_WHY_PSH] >= 1);
	assert_true(st.why[TB_WHY_SHORT] >= 1);

	m.r = r;
	for (size_t i = 0; i < tb_capture_count(cap); i++) {
		struct tb_vnet_hdr vh;
		size_t len;
		const uint8_t *p = tb_capture_get(cap, i, &len, &vh);
		int n = tb_segment(&vh, p, len, match_cb, &m);
		if (vh.gso_type != TB_GSO_NONE) {
			supers++;
			assert_true(n >= 2);
		} else {
			assert_int_equal(n, 1);
		}
	}
	assert_int_equal(supers, st.superpackets);
	assert_int_equal(m.bad, 0);
	assert_int_equal(m.found, r->n);
	/* Within a flow, the original order. */
	for (unsigned i = 0; i < r->n; i++)
		for (unsigned j = i + 1; j < r->n; j++)
			if (r->flow[i] == r->flow[j] && r->seen[i] > r->seen[j])
				fail_msg("flow %d: packet %u came out after %u", r->flow[i], i, j);

	tb_coalescer_destroy(c);
	tb_arena_destroy(arena);
	tb_capture_destroy(cap);
	for (unsigned i = 0; i < r->n; i++)
		free(r->pkt[i]);
	free(r);
}

static int setup(void **state)
{
	(void)state;
	init_payload();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tso4_sizes),
		cmocka_unit_test(tso6_sizes),
		cmocka_unit_test(uso4_sizes),
		cmocka_unit_test(uso6_sizes),
		cmocka_unit_test(tcp_flags_placement),
		cmocka_unit_test(options_and_wrap),
		cmocka_unit_test(csum_field_not_trusted),
		cmocka_unit_test(zero_checksums),
		cmocka_unit_test(plain_needs_csum),
		cmocka_unit_test(plain_zero_checksum),
		cmocka_unit_test(finish_udp_behind_extension),
		cmocka_unit_test(finish_bounds),
		cmocka_unit_test(plain_passthrough_and_deep_field),
		cmocka_unit_test(enobufs),
		cmocka_unit_test(callback_errors),
		cmocka_unit_test(round_trip),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
