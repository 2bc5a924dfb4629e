/* SPDX-License-Identifier: MIT */
/* Parsing: which lane a packet belongs to, and whether its headers hold. */
#include "internal.h"

static enum tbi_kind parse_l4(struct tbi_pkt *p)
{
	const uint8_t *l4 = p->data + p->ip_len;
	uint32_t left = p->len - p->ip_len;

	if (p->proto == TBI_PROTO_TCP) {
		unsigned doff;
		if (left < 20)
			return TBI_KIND_MALFORMED;
		doff = (unsigned)(l4[12] >> 4) * 4;
		if (doff < 20 || doff > left)
			return TBI_KIND_MALFORMED;
		p->l4_len = (uint16_t)doff;
	} else {
		unsigned ulen;
		if (left < 8)
			return TBI_KIND_MALFORMED;
		ulen = tbi_get16(l4 + 4);
		if (ulen < 8 || ulen > left)
			return TBI_KIND_MALFORMED;
		/* Bytes past the UDP length are padding that no merge may carry. */
		if (ulen != left)
			return TBI_KIND_MALFORMED;
		p->l4_len = 8;
	}
	p->hdr_len = (uint16_t)(p->ip_len + p->l4_len);
	p->payload = p->len - p->hdr_len;
	return TBI_KIND_L4;
}

unsigned tbi_ipv6_walk(const uint8_t *data, size_t end, uint8_t *proto)
{
	unsigned off = 40, n = 0, hl;
	uint8_t nh = data[6];

	for (;;) {
		switch (nh) {
		case 0:	 /* hop-by-hop options */
		case 43: /* routing */
		case 44: /* fragment */
		case 51: /* authentication header */
		case 60: /* destination options */
			break;
		default:
			*proto = nh;
			return off;
		}
		if (n++ == TBI_IPV6_MAX_EXT || end < off + 8)
			return 0;
		if (nh == 44)
			hl = 8;
		else if (nh == 51)
			hl = ((unsigned)data[off + 1] + 2) * 4;
		else
			hl = ((unsigned)data[off + 1] + 1) * 8;
		if (end < off + hl)
			return 0;
		nh = data[off];
		off += hl;
	}
}

enum tbi_kind tbi_parse(const uint8_t *data, size_t len, struct tbi_pkt *p)
{
	p->data = data;
	p->proto = 0;
	p->ip_len = p->l4_len = p->hdr_len = 0;
	p->payload = 0;
	p->len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	if (len < 20)
		return TBI_KIND_OTHER;
	p->version = data[0] >> 4;
	if (p->version == 4) {
		unsigned ihl = (unsigned)(data[0] & 0x0f) * 4;
		unsigned tot = tbi_get16(data + 2);
		p->proto = data[9];
		if (p->proto != TBI_PROTO_TCP && p->proto != TBI_PROTO_UDP)
			return TBI_KIND_OTHER;
		if (ihl < 20 || tot < ihl || tot > len)
			return TBI_KIND_MALFORMED;
		p->len = tot;
		p->ip_len = (uint16_t)ihl;
		if (ihl != 20)
			return TBI_KIND_UNSUPPORTED; /* IP options */
		if (tbi_get16(data + 6) & 0x3fff)
			return TBI_KIND_UNSUPPORTED; /* MF or a fragment offset */
		return parse_l4(p);
	}
	if (p->version == 6) {
		unsigned plen, off;
		if (len < 40)
			return TBI_KIND_OTHER;
		plen = tbi_get16(data + 4);
		off = tbi_ipv6_walk(data, plen && 40 + plen <= len ? 40 + plen : len, &p->proto);
		if (!off || (p->proto != TBI_PROTO_TCP && p->proto != TBI_PROTO_UDP))
			return TBI_KIND_OTHER;
		if (plen == 0 || 40 + plen > len)
			return TBI_KIND_MALFORMED; /* a jumbogram or a length that lies */
		p->len = 40 + plen;
		p->ip_len = (uint16_t)off;
		if (off != 40)
			return TBI_KIND_UNSUPPORTED; /* extension headers */
		return parse_l4(p);
	}
	p->version = 0;
	return TBI_KIND_OTHER;
}
