/* SPDX-License-Identifier: MIT */
/*
 * tb_segment, tb_segment_into and tb_csum_finish. Every packet they produce
 * is compared byte by byte with one built independently here, checksums
 * computed the slow way; then packets coalesced by the library and cut back
 * must come out as they went in.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunbatch.h"

enum { FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10, ECE = 0x40, CWR = 0x80 };

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)(p[0] << 8 | p[1]);
}

/* RFC 1071 over big-endian words, host-order result, not folded. */
static uint32_t ref_add(uint32_t s, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* A packet as the tests describe it. */
struct pk {
	int v6;
	uint8_t proto; /* 6, 17, or something else */
	unsigned ipopt, tcpopt;
	uint16_t id;
	int df;
	uint8_t tos, ttl;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t sport, dport;
	uint8_t addr; /* varies the addresses per flow */
	const uint8_t *pay;
	size_t len;
};

static size_t ip_hlen(const struct pk *s)
{
	return s->v6 ? 40 : 20 + s->ipopt;
}

static size_t l4_hlen(const struct pk *s)
{
	return s->proto == 6 ? 20 + s->tcpopt : s->proto == 17 ? 8 : 0;
}

/* Pseudo-header plus L4 header and payload with the checksum field read as
 * zero: the folded sum the checksum complements. */
static uint16_t l4_sum(const uint8_t *p, size_t len, int v6, size_t ih, unsigned csum_off)
{
	uint32_t s = 0;
	size_t l4len = len - ih;

	if (v6) {
		s = ref_add(s, p + 8, 32);
		s += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff);
		s += p[6];
	} else {
		s = ref_add(s, p + 12, 8);
		s += (uint32_t)l4len;
		s += p[9];
	}
	s = ref_add(s, p + ih, csum_off);
	s = ref_add(s, p + ih + csum_off + 2, l4len - csum_off - 2);
	return ref_fold(s);
}

static uint16_t pseudo_only(const uint8_t *p, size_t len, int v6, size_t ih, uint8_t proto)
{
	uint32_t s = 0;
	size_t l4len = len - ih;

	if (v6) {
		s = ref_add(s, p + 8, 32);
		s += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff);
	} else {
		s = ref_add(s, p + 12, 8);
		s += (uint32_t)l4len;
	}
	return ref_fold(s + proto);
}

/* Builds s with every length and checksum right. */
static size_t build(const struct pk *s, uint8_t *out)
{
	size_t ih = ip_hlen(s), lh = l4_hlen(s), len = ih + lh + s->len;
	uint8_t *l4 = out + ih;

	memset(out, 0, ih + lh);
	if (s->v6) {
		out[0] = (uint8_t)(0x60 | s->tos >> 4);
		out[1] = (uint8_t)(s->tos << 4 | 0x0a);
		out[2] = 0xbc;
		out[3] = 0xde;
		put16(out + 4, (unsigned)(len - 40));
		out[6] = s->proto;
		out[7] = s->ttl;
		out[8] = 0xfd;
		out[22] = s->addr;
		out[23] = 1;
		out[24] = 0xfd;
		out[38] = s->addr;
		out[39] = 2;
	} else {
		uint16_t c;
		out[0] = (uint8_t)(0x40 | ih / 4);
		out[1] = s->tos;
		put16(out + 2, (unsigned)len);
		put16(out + 4, s->id);
		out[6] = s->df ? 0x40 : 0;
		out[8] = s->ttl;
		out[9] = s->proto;
		out[12] = 10;
		out[14] = s->addr;
		out[15] = 1;
		out[16] = 10;
		out[18] = s->addr;
		out[19] = 2;
		for (size_t i = 20; i < ih; i++)
			out[i] = 1;
		c = (uint16_t)~ref_fold(ref_add(0, out, ih));
		put16(out + 10, c);
	}
	memcpy(out + ih + lh, s->pay, s->len);
	if (s->proto == 6) {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, s->seq);
		put32(l4 + 8, s->ack);
		l4[12] = (uint8_t)((lh / 4) << 4);
		l4[13] = s->flags;
		put16(l4 + 14, 502);
		for (size_t i = 20; i < lh; i++)
			l4[i] = (uint8_t)(i == 20 || i == 21 ? 1 : 0x40 + i); /* NOP NOP junk */
		put16(l4 + 16, (uint16_t)~l4_sum(out, len, s->v6, ih, 16));
	} else if (s->proto == 17) {
		uint16_t c;
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put16(l4 + 4, (unsigned)(lh + s->len));
		c = (uint16_t)~l4_sum(out, len, s->v6, ih, 6);
		put16(l4 + 6, c ? c : 0xffff);
	}
	return len;
}

/* Independent check that a produced packet's checksums verify. */
static void assert_csums_verify(const uint8_t *p, size_t len)
{
	int v6 = p[0] >> 4 == 6;
	size_t ih = v6 ? 40 : (size_t)(p[0] & 15) * 4;
	uint8_t proto = v6 ? p[6] : p[9];

	if (!v6)
		assert_int_equal(ref_fold(ref_add(0, p, ih)), 0xffff);
	assert_int_equal(ref_fold(ref_add(pseudo_only(p, len, v6, ih, proto), p + ih, len - ih)),
			 0xffff);
}

static uint8_t payload[420000];

static void init_payload(void)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(payload); i++) {
		x = x * 1103515245u + 12345u;
		payload[i] = (uint8_t)(x >> 16);
	}
}

static struct pk tcp4(void)
{
	struct pk s = {0};
	s.proto = 6;
	s.id = 0x1234;
	s.df = 1;
	s.ttl = 64;
	s.seq = 1000000;
	s.ack = 77;
	s.flags = ACK;
	s.sport = 40000;
	s.dport = 443;
	s.addr = 1;
	s.pay = payload;
	return s;
}

static struct pk tcp6(void)
{
	struct pk s = tcp4();
	s.v6 = 1;
	s.tos = 0x28;
	return s;
}

static struct pk udp4(void)
{
	struct pk s = tcp4();
	s.proto = 17;
	s.sport = 5000;
	s.dport = 51820;
	return s;
}

static struct pk udp6(void)
{
	struct pk s = udp4();
	s.v6 = 1;
	return s;
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
static void expected_segments(const struct pk *super, size_t total, size_t mss, struct expect *e)
{
	size_t pos = 0;
	unsigned n = (unsigned)((total + mss - 1) / mss);

	assert_true(n <= MAX_OUT);
	e->n = n;
	for (unsigned i = 0; i < n; i++) {
		struct pk s = *super;
		s.pay = super->pay + i * mss;
		s.len = total - i * mss < mss ? total - i * mss : mss;
		s.id = (uint16_t)(super->id + i);
		s.seq = super->seq + (uint32_t)(i * mss);
		if (i + 1 < n)
			s.flags &= (uint8_t) ~(FIN | PSH);
		if (i > 0)
			s.flags &= (uint8_t)~CWR;
		e->off[i] = pos;
		e->len[i] = build(&s, e->buf + pos);
		pos += e->len[i];
	}
}

/* The superpacket as the kernel hands it over: whole lengths, the first
 * segment's ID and sequence number, and the pseudo-header sum (folded, not
 * inverted) in the checksum field. */
static size_t build_super(const struct pk *s, size_t total, uint8_t *out)
{
	struct pk t = *s;
	size_t len, ih = ip_hlen(s);

	t.len = total;
	len = build(&t, out);
	if (s->proto == 6 || s->proto == 17)
		put16(out + ih + (s->proto == 6 ? 16 : 6),
		      pseudo_only(out, len, s->v6, ih, s->proto));
	return len;
}

static struct tb_vnet_hdr gso_hdr(const struct pk *s, size_t mss)
{
	struct tb_vnet_hdr vh = {0};

	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.gso_type = s->proto == 17 ? TB_GSO_UDP_L4 : s->v6 ? TB_GSO_TCPV6 : TB_GSO_TCPV4;
	vh.hdr_len = 0; /* never trusted */
	vh.gso_size = (uint16_t)mss;
	vh.csum_start = (uint16_t)ip_hlen(s);
	vh.csum_offset = s->proto == 17 ? 6 : 16;
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

/* Cuts one superpacket both ways and compares with the independent build. */
static void check_super(const struct pk *s, size_t total, size_t mss, uint8_t gso_extra)
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
}

static void tso4_sizes(void **state)
{
	struct pk s = tcp4();

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
	struct pk s = tcp6();

	(void)state;
	check_super(&s, 1428 * 3 + 1, 1428, 0);
	check_super(&s, 1428 * 5, 1428, 0);
	check_super(&s, 1, 1428, 0);
	check_super(&s, 45 * 1200, 1200, 0);
	check_super(&s, 65535 - 60 + 40 - 40, 1440, 0);
}

static void uso4_sizes(void **state)
{
	struct pk s = udp4();

	(void)state;
	check_super(&s, 1200 * 5 + 1, 1200, 0);
	check_super(&s, 1200 * 5, 1200, 0);
	check_super(&s, 1200, 1200, 0);
	check_super(&s, 45 * 1300, 1300, 0);
	check_super(&s, 3, 2, 0); /* odd lengths */
}

static void uso6_sizes(void **state)
{
	struct pk s = udp6();

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
	struct pk s = tcp4();

	(void)state;
	s.flags = ACK | PSH | FIN | CWR | ECE;
	check_super(&s, 1000 * 4 + 10, 1000, TB_GSO_ECN);
	check_super(&s, 1000, 1000, TB_GSO_ECN); /* one segment keeps them all */
	s = tcp6();
	s.flags = ACK | PSH | CWR;
	check_super(&s, 1000 * 2, 1000, TB_GSO_ECN);
	s.flags = ACK | FIN;
	check_super(&s, 1000 * 3 - 1, 1000, 0);
}

/* IP and TCP options are copied into every segment; the ID and the
 * sequence number wrap. */
static void options_and_wrap(void **state)
{
	struct pk s = tcp4();

	(void)state;
	s.ipopt = 12;
	s.tcpopt = 12;
	s.id = 0xfffe;
	s.seq = 0xffffffffu - 2500;
	check_super(&s, 1000 * 6 + 3, 1000, 0);
	s.ipopt = 40;
	s.tcpopt = 40;
	check_super(&s, 500 * 9, 500, 0);
	s = tcp6();
	s.tcpopt = 40;
	s.seq = 0xfffffff0u;
	check_super(&s, 1000 * 3, 1000, 0);
	s = udp4();
	s.ipopt = 8;
	s.id = 0xffff;
	s.df = 0;
	check_super(&s, 1000 * 3, 1000, 0);
}

/* The superpacket's own checksum field, whatever it holds, has no say. */
static void csum_field_not_trusted(void **state)
{
	static uint8_t pkt[70000];
	static struct expect e;
	struct pk s = tcp6();
	size_t len = build_super(&s, 3000, pkt);
	struct tb_vnet_hdr vh = gso_hdr(&s, 1000);
	struct got *g = new_got(pkt, len);

	(void)state;
	put16(pkt + 40 + 16, 0xdead);
	vh.flags = 0; /* and no NEEDS_CSUM at all */
	expected_segments(&s, 3000, 1000, &e);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 3);
	assert_same(&e, g->buf, g->off, g->len, g->n);
	free(g);
}

/* Sets two payload bytes at pay_at so that the segment's checksum computes
 * to 0. The segment s (with its payload) is built into scratch to find the
 * sum; the two bytes sit at an even offset from the L4 header. */
static void force_zero_csum(struct pk *seg, uint8_t *pay_at)
{
	static uint8_t tmp[70000];
	size_t len, ih = ip_hlen(seg);
	uint16_t sum;

	pay_at[0] = pay_at[1] = 0;
	len = build(seg, tmp);
	sum = l4_sum(tmp, len, seg->v6, ih, seg->proto == 6 ? 16 : 6);
	put16(pay_at, (unsigned)(0xffff - sum)); /* sum + x = ffff: complement 0 */
}

/* A UDP checksum that computes to 0 goes out as ffff; a TCP one stays 0. */
static void zero_checksums(void **state)
{
	static uint8_t pkt[70000];
	static struct expect e;
	struct pk s = udp4();
	struct pk seg;
	size_t len;
	struct tb_vnet_hdr vh;
	struct got *g;

	(void)state;
	/* Segment 2 of 4 of a USO superpacket. */
	s.pay = payload + 20000;
	seg = s;
	seg.pay = s.pay + 2 * 1000;
	seg.len = 1000;
	force_zero_csum(&seg, payload + 20000 + 2 * 1000 + 10);
	len = build_super(&s, 4000, pkt);
	expected_segments(&s, 4000, 1000, &e);
	assert_int_equal(get16(e.buf + e.off[2] + 20 + 6), 0xffff);
	vh = gso_hdr(&s, 1000);
	g = new_got(pkt, len);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 4);
	assert_same(&e, g->buf, g->off, g->len, g->n);
	assert_int_equal(get16(g->buf + g->off[2] + 20 + 6), 0xffff);
	free(g);

	/* The same on IPv6. */
	s = udp6();
	s.pay = payload + 30000;
	seg = s;
	seg.len = 900;
	force_zero_csum(&seg, payload + 30000 + 100);
	len = build_super(&s, 2000, pkt);
	expected_segments(&s, 2000, 900, &e);
	vh = gso_hdr(&s, 900);
	g = new_got(pkt, len);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 3);
	assert_same(&e, g->buf, g->off, g->len, g->n);
	assert_int_equal(get16(g->buf + g->off[0] + 40 + 6), 0xffff);
	free(g);

	/* TCP: the last segment's checksum is 0 and stays 0. */
	s = tcp4();
	s.pay = payload + 40000;
	s.flags = ACK | PSH;
	seg = s;
	seg.pay = s.pay + 2 * 1000;
	seg.len = 500;
	seg.seq = s.seq + 2000;
	seg.id = (uint16_t)(s.id + 2);
	force_zero_csum(&seg, payload + 40000 + 2000 + 100);
	len = build_super(&s, 2500, pkt);
	expected_segments(&s, 2500, 1000, &e);
	vh = gso_hdr(&s, 1000);
	g = new_got(pkt, len);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 3);
	assert_same(&e, g->buf, g->off, g->len, g->n);
	assert_int_equal(get16(g->buf + g->off[2] + 20 + 16), 0);
	free(g);
	init_payload();
}

/* ------------------------------------------------------------------------ */
/* Plain packets and tb_csum_finish                                          */
/* ------------------------------------------------------------------------ */

/* A NEEDS_CSUM packet as the kernel sends it: the pseudo-header sum in the
 * field. want gets the finished packet. */
static size_t partial_of(const struct pk *s, uint8_t *pkt, uint8_t *want, struct tb_vnet_hdr *vh)
{
	size_t len = build(s, want), ih = ip_hlen(s);
	unsigned off = s->proto == 6 ? 16 : 6;

	memcpy(pkt, want, len);
	put16(pkt + ih + off, pseudo_only(pkt, len, s->v6, ih, s->proto));
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
	struct pk kinds[] = {tcp4(), tcp6(), udp4(), udp6()};

	(void)state;
	for (size_t k = 0; k < 4; k++) {
		size_t lens_[] = {0, 1, 100, 1401};
		for (size_t l = 0; l < 4; l++) {
			struct tb_vnet_hdr vh;
			struct got *g;
			size_t len, sl[2];
			kinds[k].len = lens_[l];
			kinds[k].flags = ACK | PSH;
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
	struct pk s = udp6();
	struct tb_vnet_hdr vh;
	struct got *g;
	size_t len;

	(void)state;
	s.len = 333;
	force_zero_csum(&s, payload + 4);
	len = partial_of(&s, pkt, want, &vh);
	assert_int_equal(get16(want + 40 + 6), 0xffff);
	g = new_got(NULL, 0);
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 1);
	assert_memory_equal(g->buf, want, len);
	free(g);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(get16(pkt + 40 + 6), 0xffff);

	s = udp4();
	s.len = 40;
	force_zero_csum(&s, payload + 30);
	len = partial_of(&s, pkt, want, &vh);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(get16(pkt + 20 + 6), 0xffff);
	assert_memory_equal(pkt, want, len);

	s = tcp4();
	s.len = 41;
	force_zero_csum(&s, payload + 8);
	len = partial_of(&s, pkt, want, &vh);
	assert_int_equal(get16(want + 20 + 16), 0);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(get16(pkt + 20 + 16), 0);
	g = new_got(NULL, 0);
	memcpy(pkt, want, len);
	put16(pkt + 36, pseudo_only(pkt, len, 0, 20, 6));
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
	put16(pkt + 4, (unsigned)(len - 40));
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
	put16(pkt + 48, 1);
	put16(pkt + 50, 2);
	put16(pkt + 52, 8 + 64);
	for (size_t i = 2; i < 64; i++)
		pkt[56 + i] = (uint8_t)i;
	/* Pseudo-header (UDP length, proto 17) plus the UDP bytes; two payload
	 * bytes make the total ffff. */
	s = ref_add(0, pkt + 8, 32) + 72 + 17;
	s = ref_add(s, pkt + 48, 72);
	x = (uint16_t)(0xffff - ref_fold(s));
	put16(pkt + 56, x);
	assert_int_equal(ref_fold(ref_add(0, pkt + 8, 32) + 72 + 17 + ref_add(0, pkt + 48, 72)),
			 0xffff);
	put16(pkt + 54, ref_fold(ref_add(0, pkt + 8, 32) + 72 + 17));
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.csum_start = 48;
	vh.csum_offset = 6;
	assert_int_equal(tb_vnet_validate(&vh, pkt, len), TB_VNET_OK);
	assert_int_equal(tb_csum_finish(&vh, pkt, len), 0);
	assert_int_equal(get16(pkt + 54), 0xffff);
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
	assert_int_equal(get16(pkt + 62), (uint16_t)~ref_fold(ref_add(0, before + 60, 4)) & 0xffff);
}

/* A plain packet without NEEDS_CSUM comes out as it is, one iovec; one with
 * a checksum field deep in the packet (past any header scratch) is put
 * together from three pieces. */
static void plain_passthrough_and_deep_field(void **state)
{
	static uint8_t pkt[1000], want[1000];
	struct tb_vnet_hdr vh = {0};
	struct got *g = new_got(NULL, 0);
	struct pk s = tcp4();
	size_t len;

	(void)state;
	s.len = 300;
	len = build(&s, pkt);
	put16(pkt + 36, 0xbeef); /* a wrong checksum passes untouched */
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), 1);
	assert_int_equal(g->iovcnt[0], 1);
	assert_int_equal(g->len[0], len);
	assert_memory_equal(g->buf, pkt, len);
	free(g);

	/* An unknown protocol with its checksum at byte 300. */
	memset(pkt, 0, 600);
	pkt[0] = 0x45;
	put16(pkt + 2, 600);
	pkt[8] = 9;
	pkt[9] = 253;
	for (size_t i = 20; i < 600; i++)
		pkt[i] = (uint8_t)(i * 31);
	memcpy(want, pkt, 600);
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.csum_start = 20;
	vh.csum_offset = 280;
	put16(want + 300, (uint16_t)~ref_fold(ref_add(0, pkt + 20, 580)) & 0xffff);
	g = new_got(NULL, 0);
	assert_int_equal(tb_segment(&vh, pkt, 600, collect, g), 1);
	assert_int_equal(g->iovcnt[0], 3);
	assert_memory_equal(g->buf, want, 600);
	free(g);
	/* And the field as the very last bytes: nothing after it. */
	vh.csum_offset = 578;
	memcpy(want, pkt, 600);
	put16(want + 598, (uint16_t)~ref_fold(ref_add(0, pkt + 20, 580)) & 0xffff);
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
	struct pk s = tcp4();
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

static void callback_errors(void **state)
{
	static uint8_t pkt[70000];
	struct pk s = udp6();
	size_t len = build_super(&s, 5000, pkt);
	struct tb_vnet_hdr vh = gso_hdr(&s, 1000);
	struct got *g = new_got(pkt, len);

	(void)state;
	g->fail_at = 3;
	g->fail_rc = -EIO;
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), -EIO);
	assert_int_equal(g->n, 2); /* two delivered, the third failed, no more */
	free(g);

	g = new_got(pkt, len);
	g->fail_at = 1;
	g->fail_rc = -EAGAIN;
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), -EAGAIN);
	assert_int_equal(g->n, 0);
	free(g);

	g = new_got(pkt, len);
	g->fail_at = 5;
	g->fail_rc = 1; /* positive: stops too */
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), -ECANCELED);
	assert_int_equal(g->n, 4);
	free(g);

	/* Plain packets: the one call's failure is returned. */
	vh = (struct tb_vnet_hdr){0};
	g = new_got(NULL, 0);
	g->fail_at = 1;
	g->fail_rc = -ENOSPC;
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), -ENOSPC);
	free(g);
	vh.flags = TB_VNET_F_NEEDS_CSUM;
	vh.csum_start = 40;
	vh.csum_offset = 6;
	g = new_got(NULL, 0);
	g->fail_at = 1;
	g->fail_rc = -EMSGSIZE;
	assert_int_equal(tb_segment(&vh, pkt, len, collect, g), -EMSGSIZE);
	free(g);

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

static void rt_add(struct rt *r, const struct pk *s)
{
	assert_true(r->n < RT_MAX);
	r->flow[r->n] = s->addr;
	r->pkt[r->n] = malloc(70000);
	assert_non_null(r->pkt[r->n]);
	r->len[r->n] = build(s, r->pkt[r->n]);
	r->n++;
}

/* A TCP flow: n segments of mss (last one last_len), PSH on the last. */
struct flow {
	struct pk s;
	size_t pay_off;
	unsigned left;
};

static void flow_next(struct rt *r, struct flow *f, size_t seg, int last)
{
	struct pk p = f->s;

	p.pay = payload + f->pay_off;
	p.len = seg;
	if (last && p.proto == 6)
		p.flags |= PSH;
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

	f[0].s = tcp4();
	f[1].s = tcp6();
	f[2].s = udp4();
	f[3].s = udp6();
	f[4].s = tcp4();
	f[5].s = udp6();
	for (int i = 0; i < 6; i++) {
		f[i].s.addr = (uint8_t)(i + 1);
		f[i].s.sport = (uint16_t)(30000 + i);
		f[i].pay_off = (size_t)i * 66000;
		f[i].s.df = i != 2; /* flow 2: DF clear, sequential IDs */
	}
	f[4].s.tcpopt = 12;
	f[4].s.ipopt = 0;
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
		struct pk s = tcp4();
		s.addr = 9;
		rt_add(r, &s);
		s.flags = SYN;
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
