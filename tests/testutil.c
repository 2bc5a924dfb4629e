/* SPDX-License-Identifier: MIT */
/* Test helpers: see testutil.h. */
#include "testutil.h"
#include "pcap_in.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ------------------------------------------------------------------------ */
/* Failure reporting                                                        */
/* ------------------------------------------------------------------------ */

static char tu_ctx[256];

void tu_context(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tu_ctx, sizeof(tu_ctx), fmt, ap);
	va_end(ap);
}

void tu_fail(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_msg("%s%s%s", tu_ctx, tu_ctx[0] ? ": " : "", msg);
	abort(); /* fail_msg does not return */
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		tu_fail("out of memory");
	return p;
}

static void *xmemdup(const void *src, size_t len)
{
	void *p = xcalloc(1, len);

	memcpy(p, src, len);
	return p;
}

/* ------------------------------------------------------------------------ */
/* Checksums, byte by byte on purpose: independent of the library's code    */
/* ------------------------------------------------------------------------ */

uint32_t tu_sum(const void *buf, size_t n, uint32_t s)
{
	const uint8_t *p = buf;
	uint64_t acc = s;
	size_t i = 0;

	/* Big-endian 16-bit words, four at a time (the tests run unoptimized). */
	for (; i + 8 <= n; i += 8)
		acc += (uint64_t)(p[i] << 8 | p[i + 1]) + (uint64_t)(p[i + 2] << 8 | p[i + 3]) +
		       (uint64_t)(p[i + 4] << 8 | p[i + 5]) + (uint64_t)(p[i + 6] << 8 | p[i + 7]);
	for (; i + 1 < n; i += 2)
		acc += (uint64_t)(p[i] << 8 | p[i + 1]);
	if (i < n)
		acc += (uint64_t)p[i] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t tu_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

uint32_t tu_pseudo(const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
	uint32_t s;

	if ((ip[0] >> 4) == 4)
		s = tu_sum(ip + 12, 8, 0);
	else
		s = tu_sum(ip + 8, 32, 0);
	s += proto;
	s += l4len >> 16;
	s += l4len & 0xffff;
	return s;
}

/* ------------------------------------------------------------------------ */
/* Builders                                                                 */
/* ------------------------------------------------------------------------ */

/* Period 65536, so payloads can be copied out of a doubled table. */
#define PAT 65536
static uint8_t pat[2 * PAT];

uint8_t tu_pay_byte(uint32_t i)
{
	i %= PAT;
	return (uint8_t)((i * 7u) ^ (i >> 8) ^ 0x5a);
}

static void fill_payload(uint8_t *out, uint32_t off, uint32_t len)
{
	if (!pat[0]) {
		for (uint32_t i = 0; i < 2 * PAT; i++)
			pat[i] = tu_pay_byte(i);
	}
	while (len) {
		uint32_t o = off % PAT, n = len < PAT ? len : PAT;
		memcpy(out, pat + o, n);
		out += n;
		off += n;
		len -= n;
	}
}

static struct tu_spec base(int v6, uint8_t proto)
{
	struct tu_spec s;

	memset(&s, 0, sizeof(s));
	s.v6 = (uint8_t)v6;
	s.proto = proto;
	if (v6) {
		s.src[0] = s.dst[0] = 0xfd;
		s.src[15] = 1;
		s.dst[15] = 2;
	} else {
		s.src[0] = s.dst[0] = 10;
		s.src[3] = 1;
		s.dst[3] = 2;
	}
	s.ttl = 64;
	s.id = 0x1234;
	s.df = 1;
	s.sport = 1000;
	s.dport = 2000;
	s.seq = 1000000;
	s.ack = 5000;
	s.flags = TU_ACK;
	s.win = 512;
	s.len = 100;
	return s;
}

struct tu_spec tu_tcp4(void)
{
	return base(0, 6);
}
struct tu_spec tu_tcp6(void)
{
	return base(1, 6);
}
struct tu_spec tu_udp4(void)
{
	return base(0, 17);
}
struct tu_spec tu_udp6(void)
{
	return base(1, 17);
}
struct tu_spec tu_tcp(int v6)
{
	return base(v6, 6);
}
struct tu_spec tu_udp(int v6)
{
	return base(v6, 17);
}
struct tu_spec tu_icmp4(void)
{
	struct tu_spec s = base(0, 1);
	s.len = 56;
	return s;
}
struct tu_spec tu_icmp6(void)
{
	struct tu_spec s = base(1, 58);
	s.len = 56;
	return s;
}

void tu_set_ts(struct tu_spec *s, uint32_t tsval, uint32_t tsecr)
{
	uint8_t *o = s->opts;

	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	tu_put32(o + 4, tsval);
	tu_put32(o + 8, tsecr);
	s->optlen = 12;
}

void tu_next(struct tu_spec *s)
{
	if (s->proto == 6)
		s->seq += s->len;
	s->pay_off += s->len;
	s->id++;
}

unsigned tu_spec_iphl(const struct tu_spec *s)
{
	return s->v6 ? 40u : 20u + s->ipopt_len;
}

static unsigned l4_hlen(const struct tu_spec *s)
{
	switch (s->proto) {
	case 6:
		return 20u + s->optlen;
	case 17:
		return 8;
	case 1:
	case 58:
		return 8;
	default:
		return 0;
	}
}

size_t tu_spec_len(const struct tu_spec *s)
{
	return tu_spec_iphl(s) + l4_hlen(s) + s->len;
}

struct tb_vnet_hdr tu_gso_hdr(const struct tu_spec *s, uint16_t gso_size)
{
	struct tb_vnet_hdr v = {0};

	v.flags = TB_VNET_F_NEEDS_CSUM;
	v.gso_type = s->proto == 17 ? TB_GSO_UDP_L4 : s->v6 ? TB_GSO_TCPV6 : TB_GSO_TCPV4;
	v.hdr_len = (uint16_t)(tu_spec_iphl(s) + l4_hlen(s));
	v.gso_size = gso_size;
	v.csum_start = (uint16_t)tu_spec_iphl(s);
	v.csum_offset = s->proto == 17 ? 6 : 16;
	return v;
}

static void l4_csum(uint8_t *ip, unsigned iphl, uint8_t proto, size_t total, int nocsum)
{
	uint8_t *l4 = ip + iphl;
	uint32_t l4len = (uint32_t)(total - iphl);
	unsigned off;
	uint32_t s;
	uint16_t c;

	switch (proto) {
	case 6:
		off = 16;
		break;
	case 17:
		off = 6;
		break;
	case 1:
	case 58:
		off = 2;
		break;
	default:
		return;
	}
	tu_put16(l4 + off, 0);
	if (nocsum)
		return;
	s = proto == 1 ? 0 : tu_pseudo(ip, proto, l4len); /* ICMPv4 has no pseudo-header */
	c = (uint16_t)~tu_fold(tu_sum(l4, l4len, s));
	if (proto == 17 && c == 0)
		c = 0xffff;
	tu_put16(l4 + off, c);
}

static void ip4_csum(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 15u) * 4;

	tu_put16(ip + 10, 0);
	tu_put16(ip + 10, (uint16_t)~tu_fold(tu_sum(ip, ihl, 0)));
}

size_t tu_build(const struct tu_spec *s, uint8_t *b, size_t cap)
{
	size_t total = tu_spec_len(s);
	unsigned iphl = tu_spec_iphl(s), l4hl = l4_hlen(s);
	uint8_t *l4 = b + iphl, *pay = l4 + l4hl;

	if (total > cap || (!s->v6 && (s->ipopt_len % 4 || s->ipopt_len > 40)) || s->optlen % 4 ||
	    s->optlen > 40)
		tu_fail("tu_build: bad spec (len %zu, cap %zu)", total, cap);
	memset(b, 0, iphl + l4hl);
	if (!s->v6) {
		b[0] = (uint8_t)(0x40 | iphl / 4);
		b[1] = s->tos;
		tu_put16(b + 2, (uint16_t)total);
		tu_put16(b + 4, s->id);
		tu_put16(b + 6, (uint16_t)((s->df ? 0x4000 : 0) | s->frag));
		b[8] = s->ttl;
		b[9] = s->proto;
		memcpy(b + 12, s->src, 4);
		memcpy(b + 16, s->dst, 4);
		if (s->ipopt_len) {
			memset(b + 20, 1, s->ipopt_len); /* NOPs */
			b[20 + s->ipopt_len - 1] = 0;	 /* end of options */
		}
	} else {
		b[0] = (uint8_t)(0x60 | s->tos >> 4);
		b[1] = (uint8_t)(s->tos << 4 | ((s->flow >> 16) & 15));
		tu_put16(b + 2, (uint16_t)s->flow);
		tu_put16(b + 4, (uint16_t)(total - 40));
		b[6] = s->proto;
		b[7] = s->ttl;
		memcpy(b + 8, s->src, 16);
		memcpy(b + 24, s->dst, 16);
	}
	if (s->proto == 6) {
		tu_put16(l4, s->sport);
		tu_put16(l4 + 2, s->dport);
		tu_put32(l4 + 4, s->seq);
		tu_put32(l4 + 8, s->ack);
		l4[12] = (uint8_t)(l4hl / 4 << 4 | (s->tcp_res & 15));
		l4[13] = s->flags;
		tu_put16(l4 + 14, s->win);
		tu_put16(l4 + 18, s->urg);
		memcpy(l4 + 20, s->opts, s->optlen);
	} else if (s->proto == 17) {
		tu_put16(l4, s->sport);
		tu_put16(l4 + 2, s->dport);
		tu_put16(l4 + 4, (uint16_t)(total - iphl));
	} else if (s->proto == 1 || s->proto == 58) {
		l4[0] = s->proto == 1 ? 8 : 128; /* echo request */
		tu_put16(l4 + 4, s->sport);
		tu_put16(l4 + 6, (uint16_t)s->seq);
	}
	if (s->pay)
		memcpy(pay, s->pay, s->len);
	else
		fill_payload(pay, s->pay_off, s->len);
	l4_csum(b, iphl, s->proto, total, s->proto == 17 && s->udp_nocsum);
	if (s->bad_csum && l4hl) {
		unsigned off = s->proto == 6 ? 16 : s->proto == 17 ? 6 : 2;
		tu_put16(l4 + off, (uint16_t)(tu_get16(l4 + off) + 1));
	}
	if (!s->v6) {
		ip4_csum(b);
		if (s->bad_ipcsum)
			tu_put16(b + 10, (uint16_t)(tu_get16(b + 10) + 1));
	}
	return total;
}

void tu_fix_csums(uint8_t *p, size_t len)
{
	unsigned iphl;
	size_t l;
	uint8_t proto;

	if (len < 20)
		return;
	if ((p[0] >> 4) == 4) {
		iphl = (p[0] & 15u) * 4;
		if (iphl < 20 || len < iphl)
			return;
		ip4_csum(p);
		proto = p[9];
		l = tu_get16(p + 2);
	} else if ((p[0] >> 4) == 6 && len >= 40) {
		iphl = 40;
		proto = p[6];
		l = 40u + tu_get16(p + 4);
	} else {
		return;
	}
	/* Over what the IP header says, when the buffer holds it. */
	if (l > len || l < iphl)
		l = len;
	if ((proto == 6 && l >= iphl + 20) || (proto == 17 && l >= iphl + 8)) {
		int nocsum = proto == 17 && (p[0] >> 4) == 4 && tu_get16(p + iphl + 6) == 0;
		l4_csum(p, iphl, proto, l, nocsum);
	}
}

/* ------------------------------------------------------------------------ */
/* Classification by the rules                                              */
/* ------------------------------------------------------------------------ */

/* Terminal protocol behind IPv6 extension headers, 0 offset if unknown. */
static unsigned v6_terminal(const uint8_t *p, size_t end, uint8_t *proto)
{
	unsigned off = 40, hl;
	uint8_t nh = p[6];

	for (int n = 0;; n++) {
		if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60) {
			*proto = nh;
			return off;
		}
		if (n == 8 || end < off + 8)
			return 0;
		hl = nh == 44 ? 8 : nh == 51 ? (p[off + 1] + 2u) * 4 : (p[off + 1] + 1u) * 8;
		if (end < off + hl)
			return 0;
		nh = p[off];
		off += hl;
	}
}

void tu_classify(const uint8_t *p, size_t len, struct tu_info *o)
{
	unsigned ihl = 0, v;
	size_t l = len; /* the IP length, when it holds */
	uint8_t proto = 0;
	int ports = 0;

	memset(o, 0, sizeof(*o));
	o->kind = TU_OTHER;
	o->lane = TB_LANE_PASS;
	o->out_len = len;
	o->key[0] = 0xff;
	if (len < 20)
		return;
	v = p[0] >> 4;
	if (v == 4) {
		unsigned tot = tu_get16(p + 2), fr = tu_get16(p + 6);
		ihl = (p[0] & 15u) * 4;
		proto = p[9];
		o->key[0] = 4;
		o->key[1] = proto;
		memcpy(o->key + 2, p + 12, 8);
		ports = (proto == 6 || proto == 17) && !(fr & 0x1fff) && ihl >= 20 &&
			len >= ihl + 4;
		if (ports)
			memcpy(o->key + 34, p + ihl, 4);
		if (proto != 6 && proto != 17)
			return;
		o->lane = proto == 6 ? TB_LANE_TCP : TB_LANE_UDP;
		o->kind = TU_BAD;
		if (ihl < 20 || tot < ihl || tot > len || ihl != 20 || (fr & 0x3fff))
			return;
		o->v4_df = (fr & 0x4000) != 0;
		l = tot;
	} else if (v == 6) {
		unsigned plen;
		uint8_t term = 0;
		if (len < 40)
			return;
		plen = tu_get16(p + 4);
		proto = p[6];
		o->key[0] = 6;
		o->key[1] = proto;
		memcpy(o->key + 2, p + 8, 32);
		if ((proto == 6 || proto == 17) && len >= 44)
			memcpy(o->key + 34, p + 40, 4);
		ihl = v6_terminal(p, plen && 40 + plen <= len ? 40 + plen : len, &term);
		if (ihl && ihl != 40) {
			/* Behind extension headers: the flow of its terminal protocol. */
			o->key[1] = term;
			memset(o->key + 34, 0, 4);
			if ((term == 6 || term == 17) && len >= ihl + 4)
				memcpy(o->key + 34, p + ihl, 4);
		}
		if (!ihl || (term != 6 && term != 17))
			return;
		o->lane = term == 6 ? TB_LANE_TCP : TB_LANE_UDP;
		/* Extension headers hide the ports: a chain the parser can't
		 * walk is passthrough, so the lane tells such packets apart. */
		o->key[38] = (uint8_t)(o->lane + 1);
		o->kind = TU_BAD;
		if (!plen || 40 + plen > len || ihl != 40)
			return;
		l = 40 + plen;
	} else {
		return;
	}
	/* A well-formed IP header of a TCP or UDP packet. */
	if (proto == 6) {
		unsigned doff;
		if (l - ihl < 20)
			return;
		doff = (p[ihl + 12] >> 4) * 4u;
		if (doff < 20 || doff > l - ihl)
			return;
		uint8_t fl = p[ihl + 13];
		o->pure_ack =
			l - ihl == doff && (fl & TU_ACK) && !(fl & ~(TU_ACK | TU_PSH | TU_ECE));
	} else {
		if (l - ihl < 8 || tu_get16(p + ihl + 4) != l - ihl)
			return; /* also padding after the UDP length: never merged */
	}
	o->kind = TU_L4;
	o->out_len = l;
}

/* ------------------------------------------------------------------------ */
/* Geometry and the reference segmenter                                     */
/* ------------------------------------------------------------------------ */

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/*
 * The rules of fuzz/refcheck.c's rc_geometry, where each one's source is
 * named and tests/ktest_oracle.c checks the kernel's against a real TUN.
 * "kernel": Linux refuses it or does not deliver the segments intact;
 * "ours": the kernel would take it, the coalescer promises more.
 */
int tu_check_geometry(const uint8_t *sp, size_t len, const struct tb_vnet_hdr *v, char *err,
		      size_t errlen)
{
	unsigned iphl, l4hl, ver, proto, nseg, want_off, want_type;
	uint32_t l4len;

	/* kernel for UDP_L4, ours for TCP (the kernel rebuilds its seed) */
	if (v->flags != TB_VNET_F_NEEDS_CSUM)
		return ERR("vnet flags %u, want NEEDS_CSUM only", v->flags);
	/* ours (GRO's 64 KiB); kernel for IPv4 but TCP with total length 0 */
	if (len > 65535)
		return ERR("superpacket of %zu bytes > 65535", len);
	if (len < 20) /* kernel: ip_rcv_core */
		return ERR("superpacket of %zu bytes", len);
	ver = sp[0] >> 4;
	if (ver == 4) {
		iphl = (sp[0] & 15u) * 4;
		if (iphl != 20) /* ours: the kernel copies options */
			return ERR("IPv4 IHL %u in a superpacket", iphl);
		proto = sp[9];
		if (tu_get16(sp + 2) != len) /* kernel: ip_rcv_core (ours for BIG TCP's 0) */
			return ERR("IPv4 total length %u, superpacket %zu", tu_get16(sp + 2), len);
		if (tu_fold(tu_sum(sp, 20, 0)) != 0xffff) /* kernel: ip_rcv_core */
			return ERR("bad IPv4 header checksum in the superpacket");
		if (tu_get16(sp + 6) & 0x3fff) /* ours: the kernel cuts fragments */
			return ERR("fragment bits in a superpacket");
	} else if (ver == 6) {
		iphl = 40;
		if (len < 40) /* kernel: ip6_rcv_core */
			return ERR("IPv6 superpacket of %zu bytes", len);
		proto = sp[6];
		if (tu_get16(sp + 4) != len - 40) /* kernel: ip6_rcv_core */
			return ERR("IPv6 payload length %u, superpacket %zu", tu_get16(sp + 4),
				   len);
	} else {
		return ERR("IP version %u in a superpacket", ver);
	}
	if (proto == 6) {
		want_off = 16;
		want_type = ver == 4 ? TB_GSO_TCPV4 : TB_GSO_TCPV6;
		if (len < iphl + 20) /* kernel: virtio_net_hdr_to_skb, tcp_gso_segment */
			return ERR("TCP header cut");
		l4hl = (sp[iphl + 12] >> 4) * 4u;
		if (l4hl < 20)
			return ERR("TCP data offset %u", l4hl);
		uint8_t fl = sp[iphl + 13];
		/* ours: tcp_gso_segment cuts these too, GRO never merges them */
		if (!(fl & TU_ACK) || (fl & ~(TU_ACK | TU_PSH | TU_ECE)))
			return ERR("TCP flags 0x%02x in a superpacket", fl);
	} else if (proto == 17) {
		want_off = 6;
		want_type = TB_GSO_UDP_L4;
		l4hl = 8;
	} else {
		return ERR("protocol %u in a superpacket", proto);
	}
	/* kernel: virtio_net_hdr_to_skb and the GSO handlers, from here to the
	 * end, but for the header length, one segment and 64 segments (ours;
	 * the kernel's cap is 128 UDP segments, none for TCP) */
	if (v->gso_type != want_type)
		return ERR("gso_type %u, want %u", v->gso_type, want_type);
	if (v->csum_start != iphl)
		return ERR("csum_start %u, want %u", v->csum_start, iphl);
	if (v->csum_offset != want_off)
		return ERR("csum_offset %u, want %u", v->csum_offset, want_off);
	if (v->hdr_len != iphl + l4hl)
		return ERR("hdr_len %u, want %u", v->hdr_len, iphl + l4hl);
	if (len <= v->hdr_len)
		return ERR("superpacket without payload");
	if (!v->gso_size)
		return ERR("gso_size 0");
	nseg = (unsigned)((len - v->hdr_len + v->gso_size - 1) / v->gso_size);
	if (nseg < 2)
		return ERR("superpacket of %u segment(s) (gso_size %u, %zu bytes)", nseg,
			   v->gso_size, len);
	if (nseg > 64)
		return ERR("%u segments > 64", nseg);
	l4len = (uint32_t)(len - iphl);
	if (proto == 17 && tu_get16(sp + iphl + 4) != l4len)
		return ERR("UDP length %u, want %u", tu_get16(sp + iphl + 4), l4len);
	uint16_t want = tu_fold(tu_pseudo(sp, (uint8_t)proto, l4len));
	uint16_t got = tu_get16(sp + iphl + want_off);
	if (got != want)
		return ERR("L4 checksum field 0x%04x, want pseudo-header sum 0x%04x", got, want);
	return 0;
}

void tu_bufs_free(struct tu_buf *b, size_t n)
{
	if (!b)
		return;
	for (size_t i = 0; i < n; i++)
		free(b[i].data);
	free(b);
}

size_t tu_segment(const uint8_t *sp, size_t len, const struct tb_vnet_hdr *v, struct tu_buf **out,
		  char *err, size_t errlen)
{
	unsigned hl = v->hdr_len, iphl = v->csum_start, gs = v->gso_size;
	int ver = sp[0] >> 4, tcp;
	size_t n, pay;
	struct tu_buf *b;

	*out = NULL;
	if (tu_check_geometry(sp, len, v, err, errlen))
		return 0;
	tcp = v->gso_type != TB_GSO_UDP_L4;
	pay = len - hl;
	n = (pay + gs - 1) / gs;
	b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < n; i++) {
		size_t seg = i + 1 < n ? gs : pay - (n - 1) * gs;
		uint8_t *p = xcalloc(1, hl + seg);
		uint8_t *l4 = p + iphl;

		memcpy(p, sp, hl);
		memcpy(p + hl, sp + hl + i * gs, seg);
		if (ver == 4) {
			tu_put16(p + 2, (uint16_t)(hl + seg));
			tu_put16(p + 4, (uint16_t)(tu_get16(sp + 4) + i));
			ip4_csum(p);
		} else {
			tu_put16(p + 4, (uint16_t)(hl + seg - 40));
		}
		if (tcp) {
			tu_put32(l4 + 4, (uint32_t)(tu_get32(sp + iphl + 4) + i * gs));
			if (i + 1 < n)
				l4[13] &= (uint8_t)~TU_PSH;
		} else {
			tu_put16(l4 + 4, (uint16_t)(hl + seg - iphl));
		}
		l4_csum(p, iphl, tcp ? 6 : 17, hl + seg, 0);
		b[i].data = p;
		b[i].len = hl + seg;
	}
	*out = b;
	return n;
}

/* ------------------------------------------------------------------------ */
/* Harness                                                                  */
/* ------------------------------------------------------------------------ */

struct tu_wrap {
	struct tb_writer w; /* first: the callbacks cast back */
	struct tb_writer *inner;
	struct tu_h *h;
};

static void check_unmodified(const struct tu_h *h, const char *when)
{
	for (size_t i = 0; i < h->n_in; i++)
		if (h->in[i].orig && memcmp(h->in[i].orig, h->in[i].copy, h->in[i].len))
			tu_fail("committed packet %zu was modified (%s)", i, when);
}

static int inside_input(const struct tu_h *h, const void *p, size_t len, size_t *which)
{
	uintptr_t q = (uintptr_t)p;

	for (size_t i = 0; i < h->n_in; i++) {
		uintptr_t o = (uintptr_t)h->in[i].orig;
		if (o && q >= o && q - o <= h->in[i].len && len <= h->in[i].len - (q - o)) {
			if (which)
				*which = i;
			return 1;
		}
	}
	return 0;
}

static int wrap_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct tu_wrap *x = (struct tu_wrap *)w;

	if (x->h->paranoid)
		check_unmodified(x->h, "during a write");
	return x->inner->write(x->inner, pkt, len);
}

static int wrap_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct tu_wrap *x = (struct tu_wrap *)w;
	struct tu_h *h = x->h;
	size_t sum = sp->vnet.hdr_len;

	if (h->paranoid) {
		check_unmodified(h, "during a superpacket write");
		if (inside_input(h, sp->hdr, sp->vnet.hdr_len, NULL))
			tu_fail("superpacket headers point into a caller's packet");
		if (sp->n_payload < 2 || sp->n_payload > 64)
			tu_fail("superpacket of %u payload iovecs", sp->n_payload);
		for (unsigned i = 0; i < sp->n_payload; i++) {
			const struct iovec *v = &sp->payload[i];
			size_t k;
			if (!inside_input(h, v->iov_base, v->iov_len, &k))
				tu_fail("payload iovec %u is not in a committed packet", i);
			if ((const uint8_t *)v->iov_base != h->in[k].orig + sp->vnet.hdr_len)
				tu_fail("payload iovec %u does not start after the headers", i);
			if (i + 1 < sp->n_payload ? v->iov_len != sp->vnet.gso_size
						  : v->iov_len - 1 >= sp->vnet.gso_size)
				tu_fail("payload iovec %u of %zu bytes, gso_size %u", i, v->iov_len,
					sp->vnet.gso_size);
			sum += v->iov_len;
		}
		if (sum != sp->len)
			tu_fail("superpacket len %zu, headers and payload %zu", sp->len, sum);
	}
	return x->inner->write_gso(x->inner, sp);
}

struct tu_h *tu_new(unsigned caps, const struct tb_coalescer_opts *opts, size_t arena_size)
{
	struct tu_h *h = xcalloc(1, sizeof(*h));

	h->arena = tb_arena_create(arena_size);
	h->cap = tb_capture_create(caps);
	h->wrap = xcalloc(1, sizeof(*h->wrap));
	if (!h->arena || !h->cap)
		tu_fail("tu_new: out of memory");
	h->wrap->inner = tb_capture_writer(h->cap);
	h->wrap->h = h;
	h->wrap->w.write = wrap_write;
	h->wrap->w.write_gso = wrap_write_gso;
	h->wrap->w.caps = caps;
	h->co = tb_coalescer_create(&h->wrap->w, h->arena, opts);
	if (!h->co)
		tu_fail("tb_coalescer_create failed: %s", strerror(errno));
	h->fresh = 1;
	h->paranoid = 1;
	return h;
}

static void clear_outs(struct tu_h *h)
{
	for (size_t i = 0; i < h->n_out; i++)
		free(h->out[i].data);
	free(h->out);
	h->out = NULL;
	h->n_out = 0;
}

static void clear_ins(struct tu_h *h)
{
	for (size_t i = 0; i < h->n_in; i++)
		free(h->in[i].copy);
	h->n_in = 0;
}

void tu_free(struct tu_h *h)
{
	if (!h)
		return;
	clear_outs(h);
	clear_ins(h);
	free(h->in);
	tb_coalescer_destroy(h->co);
	tb_capture_destroy(h->cap);
	tb_arena_destroy(h->arena);
	free(h->wrap);
	free(h);
}

static void begin(struct tu_h *h)
{
	if (!h->fresh)
		return;
	h->fresh = 0;
	clear_outs(h);
	clear_ins(h);
	tb_capture_clear(h->cap);
	tb_coalescer_stats(h->co, &h->st0);
}

static size_t record(struct tu_h *h, const uint8_t *pkt, size_t len)
{
	struct tu_in *in;

	begin(h);
	if (h->n_in == h->max_in) {
		size_t n = h->max_in ? 2 * h->max_in : 64;
		struct tu_in *p = realloc(h->in, n * sizeof(*p));
		if (!p)
			tu_fail("out of memory");
		h->in = p;
		h->max_in = n;
	}
	in = &h->in[h->n_in];
	in->orig = pkt;
	in->len = len;
	in->copy = xmemdup(pkt, len);
	tu_classify(pkt, len, &in->info);
	/* Passthrough is verbatim: a lane that is off trims nothing. */
	if (!(tb_coalescer_lanes(h->co) & (1u << in->info.lane)))
		in->info.out_len = len;
	return h->n_in++;
}

size_t tu_add_ptr(struct tu_h *h, const uint8_t *pkt, size_t len)
{
	size_t i = record(h, pkt, len);
	int rc = tb_coalescer_commit(h->co, pkt, len);

	if (rc)
		tu_fail("commit of packet %zu failed: %d", i, rc);
	return i;
}

static uint8_t *reserve(struct tu_h *h, size_t len)
{
	uint8_t *p;

	begin(h);
	p = tb_coalescer_reserve(h->co, len ? len : 1);
	if (!p)
		tu_fail("tb_coalescer_reserve(%zu) failed", len);
	return p;
}

size_t tu_add(struct tu_h *h, const struct tu_spec *s)
{
	size_t len = tu_spec_len(s);
	uint8_t *p = reserve(h, len);

	tu_build(s, p, len);
	return tu_add_ptr(h, p, len);
}

size_t tu_add_bytes(struct tu_h *h, const void *pkt, size_t len)
{
	uint8_t *p = reserve(h, len);

	if (len)
		memcpy(p, pkt, len);
	return tu_add_ptr(h, p, len);
}

size_t tu_add_next(struct tu_h *h, struct tu_spec *s)
{
	size_t i = tu_add(h, s);

	tu_next(s);
	return i;
}

static void add_out(struct tu_h *h, size_t *max, uint8_t *data, size_t len, size_t rec, size_t seg,
		    int from_sp)
{
	if (h->n_out == *max) {
		size_t n = *max ? 2 * *max : 64;
		struct tu_out *p = realloc(h->out, n * sizeof(*p));
		if (!p)
			tu_fail("out of memory");
		h->out = p;
		*max = n;
	}
	h->out[h->n_out++] = (struct tu_out){data, len, rec, seg, from_sp, (size_t)-1};
}

/* Equal except what the kernel may re-stamp in a segment it cut. */
static int same(const struct tu_out *o, const struct tu_in *in)
{
	const uint8_t *a = o->data, *b = in->copy;
	size_t n = in->info.out_len;

	if (o->len != n)
		return 0;
	if (!o->from_sp || n < 20 || (b[0] >> 4) != 4)
		return memcmp(a, b, n) == 0;
	if (memcmp(a, b, 4) || memcmp(a + 6, b + 6, 4) || memcmp(a + 12, b + 12, n - 12))
		return 0;
	return in->info.v4_df || memcmp(a + 4, b + 4, 2) == 0;
}

static void hexline(char *buf, size_t cap, const uint8_t *p, size_t len)
{
	size_t k = 0;

	buf[0] = 0;
	for (size_t i = 0; i < len && i < 64 && k + 4 < cap; i++)
		k += (size_t)snprintf(buf + k, cap - k, "%02x", p[i]);
}

static void first_diff(const struct tu_out *o, const struct tu_in *in, char *buf, size_t cap)
{
	size_t n = o->len < in->info.out_len ? o->len : in->info.out_len;
	size_t i = 0;

	while (i < n && o->data[i] == in->copy[i])
		i++;
	snprintf(buf, cap, "first difference at byte %zu (lengths %zu vs %zu)", i, o->len,
		 in->info.out_len);
}

static void match(struct tu_h *h, unsigned flags)
{
	int *used = xcalloc(h->n_in, sizeof(int));
	size_t *pos = xcalloc(h->n_in, sizeof(size_t));

	for (size_t k = 0; k < h->n_out; k++) {
		struct tu_out *o = &h->out[k];
		struct tu_info oi;
		size_t i, near = (size_t)-1;

		tu_classify(o->data, o->len, &oi);
		for (i = 0; i < h->n_in; i++) {
			if (used[i] || memcmp(oi.key, h->in[i].info.key, sizeof(oi.key)))
				continue;
			if (same(o, &h->in[i]))
				break;
			if (near == (size_t)-1)
				near = i;
		}
		if (i == h->n_in) {
			char hex[160], d[96] = "no unused packet of its flow";
			hexline(hex, sizeof(hex), o->data, o->len);
			if (near != (size_t)-1)
				first_diff(o, &h->in[near], d, sizeof(d));
			free(used);
			free(pos);
			tu_fail("write %zu segment %zu (%zu bytes) matches no committed packet; "
				"vs packet %zd: %s; bytes %s",
				o->rec, o->seg, o->len, (ssize_t)near, d, hex);
		}
		used[i] = 1;
		pos[i] = k;
		o->src = i;
	}
	for (size_t i = 0; i < h->n_in; i++) {
		if (!used[i]) {
			if (flags & TU_ALLOW_LOSS)
				continue;
			free(used);
			free(pos);
			tu_fail("committed packet %zu (%zu bytes) never came out", i, h->in[i].len);
		}
		/* Order within the flow: nothing committed earlier may come out
		 * later, except that a pure ACK may be overtaken by data. */
		for (size_t j = 0; j < i; j++) {
			if (!used[j] || pos[j] < pos[i] ||
			    memcmp(h->in[i].info.key, h->in[j].info.key, sizeof(h->in[i].info.key)))
				continue;
			if (h->in[j].info.pure_ack && !h->in[i].info.pure_ack)
				continue;
			size_t a = i, b = j;
			free(used);
			free(pos);
			tu_fail("flow order broken: packet %zu came out before packet %zu", a, b);
		}
	}
	free(used);
	free(pos);
}

static void check_stats(struct tu_h *h, size_t nrec, size_t nsp, size_t nseg)
{
	struct tb_stats st;
	uint64_t bytes_in = 0, bytes_out = 0, lanes[TB_LANE_COUNT] = {0};
	unsigned on = tb_coalescer_lanes(h->co);

	tu_batch_stats(h, &st);
	for (size_t i = 0; i < h->n_in; i++) {
		enum tb_lane l = h->in[i].info.lane;
		bytes_in += h->in[i].len;
		lanes[(on & (1u << l)) ? l : TB_LANE_PASS]++;
	}
	for (size_t r = 0; r < nrec; r++) {
		size_t len;
		tb_capture_get(h->cap, r, &len, NULL);
		bytes_out += len;
	}
	if (st.pkts_in != h->n_in || st.bytes_in != bytes_in)
		tu_fail("stats: pkts_in %llu bytes_in %llu, committed %zu packets %llu bytes",
			(unsigned long long)st.pkts_in, (unsigned long long)st.bytes_in, h->n_in,
			(unsigned long long)bytes_in);
	for (int l = 0; l < TB_LANE_COUNT; l++)
		if (st.lane_pkts[l] != lanes[l])
			tu_fail("stats: lane %s got %llu packets, want %llu",
				tb_lane_name((enum tb_lane)l), (unsigned long long)st.lane_pkts[l],
				(unsigned long long)lanes[l]);
	if (st.writes != nrec || st.bytes_out != bytes_out || st.superpackets != nsp ||
	    st.segments != nseg)
		tu_fail("stats: writes %llu bytes_out %llu superpackets %llu segments %llu; "
			"captured %zu writes %llu bytes %zu superpackets %zu segments",
			(unsigned long long)st.writes, (unsigned long long)st.bytes_out,
			(unsigned long long)st.superpackets, (unsigned long long)st.segments, nrec,
			(unsigned long long)bytes_out, nsp, nseg);
}

static void check_batch(struct tu_h *h, unsigned flags)
{
	size_t nrec = tb_capture_count(h->cap), max = 0, nsp = 0, nseg = 0;
	char err[256];

	for (size_t r = 0; r < nrec; r++) {
		struct tb_vnet_hdr v;
		size_t len;
		const uint8_t *d = tb_capture_get(h->cap, r, &len, &v);

		if (v.gso_type == TB_GSO_NONE) {
			if (v.flags || v.hdr_len || v.gso_size || v.csum_start || v.csum_offset)
				tu_fail("write %zu: plain packet with a non-zero virtio header", r);
			add_out(h, &max, xmemdup(d, len ? len : 1), len, r, 0, 0);
			continue;
		}
		struct tu_buf *segs;
		size_t n = tu_segment(d, len, &v, &segs, err, sizeof(err));
		if (!n)
			tu_fail("write %zu: %s", r, err);
		for (size_t i = 0; i < n; i++)
			add_out(h, &max, segs[i].data, segs[i].len, r, i, 1);
		free(segs);
		nsp++;
		nseg += n;
	}
	match(h, flags);
	check_stats(h, nrec, nsp, nseg);
}

int tu_flush_flags(struct tu_h *h, unsigned flags)
{
	unsigned chunks = tb_arena_chunks(h->arena);
	int rc;

	begin(h);
	check_unmodified(h, "before flush");
	rc = tb_coalescer_flush(h->co);
	/* One chunk is reused in place, so its bytes are still readable. */
	if (chunks == 1)
		check_unmodified(h, "by flush");
	for (size_t i = 0; i < h->n_in; i++)
		h->in[i].orig = NULL; /* the arena took them back */
	if (tb_arena_used(h->arena) != 0)
		tu_fail("arena not reset by flush");
	if (!(flags & TU_NO_CHECK))
		check_batch(h, flags);
	h->fresh = 1;
	return rc;
}

int tu_flush(struct tu_h *h)
{
	return tu_flush_flags(h, 0);
}

size_t tu_nrec(const struct tu_h *h)
{
	return tb_capture_count(h->cap);
}

const uint8_t *tu_rec(const struct tu_h *h, size_t i, size_t *len, struct tb_vnet_hdr *v)
{
	const uint8_t *d = tb_capture_get(h->cap, i, len, v);

	if (!d)
		tu_fail("no write %zu (only %zu)", i, tb_capture_count(h->cap));
	return d;
}

void tu_batch_stats(const struct tu_h *h, struct tb_stats *out)
{
	struct tb_stats now;
	const uint64_t *a = (const uint64_t *)&h->st0;
	uint64_t *b = (uint64_t *)&now;

	tb_coalescer_stats(h->co, &now);
	for (size_t i = 0; i < sizeof(now) / sizeof(uint64_t); i++)
		b[i] -= a[i];
	*out = now;
}

static void squash(const char *in, char *out, size_t cap)
{
	size_t k = 0;
	int sp = 0;

	for (; *in && k + 1 < cap; in++) {
		if (*in == ' ' || *in == '\t') {
			sp = 1;
			continue;
		}
		if (sp && k && out[k - 1] != '[' && *in != ']')
			out[k++] = ' ';
		sp = 0;
		if (*in == '[' && k && out[k - 1] != ' ' && k + 2 < cap)
			out[k++] = ' ';
		out[k++] = *in;
	}
	out[k] = 0;
}

void tu_expect(const struct tu_h *h, const char *layout)
{
	char got[16384], norm[16384], want[16384];
	size_t k = 0;

	got[0] = 0;
	for (size_t i = 0; i < h->n_out && k + 32 < sizeof(got); i++) {
		const struct tu_out *o = &h->out[i];
		int first = !o->from_sp || o->seg == 0;
		int last = !o->from_sp || i + 1 == h->n_out || h->out[i + 1].rec != o->rec;
		k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%s%zd%s", i ? " " : "",
				      o->from_sp && first ? "[" : "", (ssize_t)o->src,
				      o->from_sp && last ? "]" : "");
	}
	squash(layout, want, sizeof(want));
	squash(got, norm, sizeof(norm));
	if (strcmp(norm, want))
		tu_fail("writes are \"%s\", want \"%s\"", norm, want);
}

void tu_expect_why(const struct tu_h *h, const char *counts)
{
	uint64_t want[TB_WHY_COUNT] = {0};
	char got[512], name[32];
	const char *p = counts;
	struct tb_stats st;
	size_t k = 0;
	int n, w;
	unsigned long long v;

	while (sscanf(p, " %31[a-z_]=%llu%n", name, &v, &n) == 2) {
		for (w = 0; w < TB_WHY_COUNT; w++)
			if (!strcmp(tb_why_name((enum tb_why)w), name))
				break;
		if (w == TB_WHY_COUNT)
			tu_fail("tu_expect_why: unknown reason %s", name);
		want[w] = v;
		p += n;
	}
	tu_batch_stats(h, &st);
	got[0] = 0;
	for (w = 0; w < TB_WHY_COUNT; w++)
		if (st.why[w] && k + 40 < sizeof(got))
			k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%s=%llu", k ? " " : "",
					      tb_why_name((enum tb_why)w),
					      (unsigned long long)st.why[w]);
	for (w = 0; w < TB_WHY_COUNT; w++)
		if (st.why[w] != want[w])
			tu_fail("reasons are \"%s\", want \"%s\"", got, counts);
}

void tu_flush_expect(struct tu_h *h, const char *layout, const char *counts)
{
	int rc = tu_flush(h);

	if (rc)
		tu_fail("flush returned %d", rc);
	tu_expect(h, layout);
	if (counts)
		tu_expect_why(h, counts);
}

char *tu_chain(char *buf, size_t cap, unsigned from, unsigned to)
{
	size_t k = (size_t)snprintf(buf, cap, "[");

	for (unsigned i = from; i < to; i++)
		k += (size_t)snprintf(buf + k, cap - k, "%s%u", i > from ? " " : "", i);
	snprintf(buf + k, cap - k, "]");
	return buf;
}

void tu_check_seg_cap(struct tu_spec s)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	char want[512], run[400];

	s.len = 100;
	for (int i = 0; i < 63; i++)
		tu_add_next(h, &s);
	tu_flush_expect(h, tu_chain(want, sizeof(want), 0, 63), "flush=1");

	for (int i = 0; i < 66; i++)
		tu_add_next(h, &s);
	snprintf(want, sizeof(want), "%s [64 65]", tu_chain(run, sizeof(run), 0, 64));
	tu_flush_expect(h, want, "seg_cap=1 flush=1");
	tu_free(h);
}

void tu_check_byte_cap(struct tu_spec s, unsigned n, uint32_t pay)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	char want[256], run[200];
	size_t len;

	s.len = pay;
	for (unsigned i = 0; i < n + 2; i++)
		tu_add_next(h, &s);
	snprintf(want, sizeof(want), "%s [%u %u]", tu_chain(run, sizeof(run), 0, n), n, n + 1);
	tu_flush_expect(h, want, "byte_cap=1 flush=1");
	tu_rec(h, 0, &len, NULL);
	assert_int_equal(len, 65535);

	/* One byte more per packet: the last one no longer fits. */
	s.len = pay + 1;
	for (unsigned i = 0; i < n; i++)
		tu_add_next(h, &s);
	snprintf(want, sizeof(want), "%s %u", tu_chain(run, sizeof(run), 0, n - 1), n - 1);
	tu_flush_expect(h, want, "byte_cap=1 flush=1");
	tu_free(h);
}

/* ------------------------------------------------------------------------ */
/* pcap                                                                     */
/* ------------------------------------------------------------------------ */

/* Traces are read with the CLI's capture reader (tools/pcap_in.c). */
int tu_trace_load(const char *path, struct tu_trace *t, char *err, size_t errlen)
{
	struct pcap_in *in = pcap_in_open(path, err, errlen);
	const uint8_t *ip;
	size_t len, max = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!in)
		return -1;
	while ((rc = pcap_in_next(in, &ip, &len, err, errlen)) == 1) {
		if (t->n == max) {
			size_t n = max ? 2 * max : 1024;
			struct tu_buf *p = realloc(t->pkts, n * sizeof(*p));
			if (!p) {
				pcap_in_close(in);
				tu_trace_free(t);
				return ERR("out of memory");
			}
			t->pkts = p;
			max = n;
		}
		t->pkts[t->n].data = xmemdup(ip, len ? len : 1);
		t->pkts[t->n].len = len;
		t->n++;
	}
	pcap_in_close(in);
	if (rc < 0) {
		tu_trace_free(t);
		return -1;
	}
	return 0;
}

void tu_trace_free(struct tu_trace *t)
{
	tu_bufs_free(t->pkts, t->n);
	t->pkts = NULL;
	t->n = 0;
}
