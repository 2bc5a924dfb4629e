/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the segmenter. Input: a 10-byte virtio header as read from
 * TUN, then the packet. Checks:
 *  - tb_vnet_validate leaves a refused header unchanged, and tb_segment then
 *    refuses it too without delivering anything;
 *  - an accepted superpacket comes out as ceil(payload / gso_size) segments
 *    whose payloads are the superpacket's, in order, each with consistent
 *    lengths, a valid IPv4 header checksum and a valid TCP/UDP checksum;
 *    for the shape tunbatch itself writes, byte for byte what the
 *    reference segmenter makes;
 *  - a plain packet comes out as itself; a NEEDS_CSUM one as tb_csum_finish
 *    finishes it;
 *  - tb_segment_into gives the same bytes, and refuses (writing nothing)
 *    when its buffer or segment count is one short;
 *  - a callback that stops the run stops it there;
 *  - the packet is never modified.
 */
#include "refcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_SIZE (8u << 20)
#define MAX_SEGS 70000
#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_segment: " __VA_ARGS__);                                     \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

static uint8_t *out, *out2;
static size_t *lens, *lens2;

struct collect {
	uint8_t *at;
	size_t *lens;
	unsigned n, stop_at;
	int stop_rc;
};

static int collect(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct collect *c = user;
	size_t len = 0;

	if (iovcnt < 1 || iovcnt > 3)
		FAIL("%u iovecs for one packet", iovcnt);
	for (unsigned i = 0; i < iovcnt; i++) {
		if (len + iov[i].iov_len > 65535)
			FAIL("one output packet over 65535 bytes");
		memcpy(c->at + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (c->n == MAX_SEGS)
		FAIL("more than %d packets", MAX_SEGS);
	c->lens[c->n] = len;
	c->at += len;
	if (c->n++ == c->stop_at)
		return c->stop_rc;
	return 0;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One segment of an accepted superpacket against the superpacket. */
static void check_segment(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t splen,
			  const uint8_t *seg, size_t seglen, unsigned i, unsigned n)
{
	unsigned version = sp[0] >> 4, hl = v->hdr_len;
	unsigned ip_len = version == 4 ? (sp[0] & 15u) * 4 : 40;
	size_t at = hl + (size_t)i * v->gso_size;
	size_t chunk = splen - at < v->gso_size ? splen - at : v->gso_size;
	int tcp = (v->gso_type & 0x7f) != TB_GSO_UDP_L4;
	const uint8_t *l4 = seg + ip_len;
	uint32_t l4len = (uint32_t)(seglen - ip_len);

	if (seglen != hl + chunk)
		FAIL("segment %u: %zu bytes, %zu expected", i, seglen, hl + chunk);
	if (memcmp(seg + hl, sp + at, chunk))
		FAIL("segment %u: payload differs from the superpacket's", i);
	if (version == 4) {
		if (get16(seg + 2) != seglen)
			FAIL("segment %u: IPv4 total length wrong", i);
		if (get16(seg + 4) != ((get16(sp + 4) + i) & 0xffff))
			FAIL("segment %u: IPv4 ID is not the first + %u", i, i);
		if (rc_fold(rc_sum(seg, ip_len, 0)) != 0xffff)
			FAIL("segment %u: IPv4 header checksum wrong", i);
		if (memcmp(seg, sp, 2) || memcmp(seg + 6, sp + 6, 4) ||
		    memcmp(seg + 12, sp + 12, ip_len - 12))
			FAIL("segment %u: IPv4 header changed beyond length, ID and checksum", i);
	} else {
		if (get16(seg + 4) != seglen - 40)
			FAIL("segment %u: IPv6 payload length wrong", i);
		if (memcmp(seg, sp, 4) || memcmp(seg + 6, sp + 6, 34))
			FAIL("segment %u: IPv6 header changed beyond its length", i);
	}
	if (tcp) {
		uint8_t f = sp[ip_len + 13];
		if (i + 1 < n)
			f &= (uint8_t)~0x09; /* FIN, PSH: last only */
		if (i > 0)
			f &= (uint8_t)~0x80; /* CWR: first only */
		if (get32(l4 + 4) != get32(sp + ip_len + 4) + (uint32_t)i * v->gso_size)
			FAIL("segment %u: TCP sequence number wrong", i);
		if (l4[13] != f)
			FAIL("segment %u: TCP flags wrong", i);
		if (memcmp(l4, sp + ip_len, 4) || memcmp(l4 + 8, sp + ip_len + 8, 5) ||
		    memcmp(l4 + 14, sp + ip_len + 14, 2) ||
		    memcmp(l4 + 18, sp + ip_len + 18, hl - ip_len - 18))
			FAIL("segment %u: TCP header changed beyond seq, flags and checksum", i);
	} else {
		if (get16(l4 + 4) != l4len)
			FAIL("segment %u: UDP length wrong", i);
		if (get16(l4 + 6) == 0)
			FAIL("segment %u: UDP checksum 0 (none) on a segment", i);
		if (memcmp(l4, sp + ip_len, 4))
			FAIL("segment %u: UDP ports changed", i);
	}
	if (rc_fold(rc_sum(l4, l4len, rc_pseudo(seg, (int)version, tcp ? 6 : 17, l4len))) != 0xffff)
		FAIL("segment %u: TCP/UDP checksum wrong", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_vnet_hdr v, v2;
	struct collect c;
	enum tb_vnet_err e;
	uint8_t *pkt, *orig;
	size_t len, total = 0;
	int n, rc;

	if (size < TB_VNET_HDR_LEN || size > TB_VNET_HDR_LEN + 65535)
		return 0;
	if (!out) {
		out = malloc(OUT_SIZE);
		out2 = malloc(OUT_SIZE);
		lens = malloc(MAX_SEGS * sizeof(*lens));
		lens2 = malloc(MAX_SEGS * sizeof(*lens2));
		if (!out || !out2 || !lens || !lens2)
			abort();
	}
	tb_vnet_decode(data, &v);
	len = size - TB_VNET_HDR_LEN;
	/* Exactly len bytes on the heap: ASan sees a read past the end. */
	pkt = malloc(len ? len : 1);
	orig = malloc(len ? len : 1);
	if (!pkt || !orig)
		abort();
	memcpy(pkt, data + TB_VNET_HDR_LEN, len);
	memcpy(orig, pkt, len);

	v2 = v;
	e = tb_vnet_validate(&v2, pkt, len);
	if ((unsigned)e >= TB_VNET_E_COUNT)
		FAIL("tb_vnet_validate returned %d", (int)e);
	if (strcmp(tb_vnet_err_name(e), "unknown") == 0)
		FAIL("no name for refusal %d", (int)e);
	{
		unsigned rhl;
		int ok = rc_vnet_ok(&v, pkt, len, &rhl);
		if (ok != (e == TB_VNET_OK))
			FAIL("tb_vnet_validate says %s, the documented rules %s",
			     tb_vnet_err_name(e), ok ? "accept" : "refuse");
		if (ok && rhl != v2.hdr_len)
			FAIL("hdr_len %u, the documented rules give %u", v2.hdr_len, rhl);
	}

	c = (struct collect){out, lens, 0, ~0u, 0};
	n = tb_segment(&v, pkt, len, collect, &c);
	if (e != TB_VNET_OK || len == 0) {
		if (e != TB_VNET_OK && memcmp(&v2, &v, sizeof(v)))
			FAIL("a refused header was modified");
		if (n != -EINVAL || c.n)
			FAIL("refused header (%s): tb_segment gave %d after %u packets",
			     tb_vnet_err_name(e), n, c.n);
		goto done;
	}
	if (n < 1 || (unsigned)n != c.n)
		FAIL("tb_segment returned %d after %u packets", n, c.n);
	for (unsigned i = 0; i < c.n; i++)
		total += lens[i];

	if ((v.gso_type & 0x7f) != TB_GSO_NONE) {
		unsigned hl = v2.hdr_len;
		size_t want = (len - hl + v.gso_size - 1) / v.gso_size;
		uint8_t *seg = out;
		if (hl == 0 || hl >= len)
			FAIL("accepted superpacket with hdr_len %u of %zu", hl, len);
		if ((size_t)n != want)
			FAIL("%d segments, %zu expected", n, want);
		for (int i = 0; i < n; i++) {
			check_segment(&v2, pkt, len, seg, lens[i], (unsigned)i, (unsigned)n);
			seg += lens[i];
		}
		/* The checksum field of a superpacket is not trusted: with the
		 * pseudo-header sum in it (as the kernel leaves it), a
		 * tunbatch-shaped superpacket cuts as the reference does. */
		if (v.flags == TB_VNET_F_NEEDS_CSUM &&
		    v.csum_start == (pkt[0] >> 4 == 4 ? 20 : 40)) {
			uint8_t *cp = malloc(len);
			struct tb_vnet_hdr rv = v2;
			uint8_t proto = (v.gso_type & 0x7f) == TB_GSO_UDP_L4 ? 17 : 6;
			if (!cp)
				abort();
			memcpy(cp, pkt, len);
			put16(cp + v.csum_start + (proto == 6 ? 16 : 6),
			      rc_pseudo(cp, pkt[0] >> 4, proto, (uint32_t)(len - v.csum_start)));
			if (!rc_geometry(&rv, cp, len)) {
				static size_t roffs[64], rlens[64];
				int rn = rc_segment(&rv, cp, len, out2, OUT_SIZE, roffs, rlens, 64);
				if (rn != n)
					FAIL("reference made %d segments, tb_segment %d", rn, n);
				if (memcmp(out2, out, total))
					FAIL("segments differ from the reference segmenter's");
			}
			free(cp);
		}
	} else if (v.flags & TB_VNET_F_NEEDS_CSUM) {
		size_t field = (size_t)v.csum_start + v.csum_offset;
		uint8_t *cp = malloc(len);
		if (!cp)
			abort();
		memcpy(cp, pkt, len);
		if (n != 1 || lens[0] != len)
			FAIL("a NEEDS_CSUM packet did not come out as one packet of its length");
		if (tb_csum_finish(&v, cp, len))
			FAIL("tb_csum_finish refused what tb_vnet_validate accepted");
		if (memcmp(cp, out, len))
			FAIL("tb_segment and tb_csum_finish finish differently");
		if (memcmp(out, pkt, field) ||
		    memcmp(out + field + 2, pkt + field + 2, len - field - 2))
			FAIL("finishing changed bytes other than the checksum field");
		/* The finished field makes the region sum to zero together with
		 * the pseudo-header sum the field held (word-aligned fields). */
		if (!(v.csum_offset & 1) &&
		    rc_fold(rc_sum(pkt + v.csum_start, len - v.csum_start, 0) +
			    get16(out + field)) != 0xffff)
			FAIL("finished checksum does not verify");
		free(cp);
	} else if (n != 1 || lens[0] != len || memcmp(out, pkt, len)) {
		FAIL("a plain packet did not come out as itself");
	}

	/* tb_segment_into: same bytes; one byte or one segment short: refused,
	 * nothing written. */
	rc = tb_segment_into(&v, pkt, len, out2, total, lens2, (unsigned)n);
	if (rc != n || memcmp(out2, out, total) || memcmp(lens2, lens, (size_t)n * sizeof(*lens)))
		FAIL("tb_segment_into differs from tb_segment (%d)", rc);
	memset(out2, 0xa5, total);
	if (tb_segment_into(&v, pkt, len, out2, total - 1, lens2, (unsigned)n) != -ENOBUFS ||
	    tb_segment_into(&v, pkt, len, out2, total, lens2, (unsigned)n - 1) != -ENOBUFS)
		FAIL("tb_segment_into accepted a buffer too small");
	for (size_t i = 0; i < total; i++)
		if (out2[i] != 0xa5)
			FAIL("tb_segment_into wrote into a buffer it refused");

	/* A callback that stops: the run ends there with its value. */
	c = (struct collect){out2, lens2, 0, (unsigned)n / 2, -EPIPE};
	if (tb_segment(&v, pkt, len, collect, &c) != -EPIPE || c.n != (unsigned)n / 2 + 1)
		FAIL("a stopping callback did not stop the run");
	c = (struct collect){out2, lens2, 0, 0, 7};
	if (tb_segment(&v, pkt, len, collect, &c) != -ECANCELED || c.n != 1)
		FAIL("a positive stop is not -ECANCELED");

done:
	/* tb_csum_finish on its own: refuses a field outside the packet. */
	if (len) {
		uint8_t *cp = malloc(len);
		size_t field = (size_t)v.csum_start + v.csum_offset;
		int want = !(v.flags & TB_VNET_F_NEEDS_CSUM)	    ? 0
			   : v.csum_start >= len || field + 2 > len ? -EINVAL
								    : 0;
		if (!cp)
			abort();
		memcpy(cp, pkt, len);
		if (tb_csum_finish(&v, cp, len) != want)
			FAIL("tb_csum_finish: %d expected", want);
		if (!(v.flags & TB_VNET_F_NEEDS_CSUM) && memcmp(cp, pkt, len))
			FAIL("tb_csum_finish changed a packet without NEEDS_CSUM");
		free(cp);
	}
	if (memcmp(pkt, orig, len))
		FAIL("the packet was modified");
	free(pkt);
	free(orig);
	return 0;
}
