/* SPDX-License-Identifier: MIT */
/* Reference classifier, geometry rules and segmenter (see refcheck.h). */
#include "refcheck.h"

#include <string.h>

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

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

uint32_t rc_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2) {
		sum += get16(p + i);
		sum = (sum & 0xffff) + (sum >> 16);
	}
	if (len & 1) {
		sum += (uint32_t)p[len - 1] << 8;
		sum = (sum & 0xffff) + (sum >> 16);
	}
	return sum;
}

uint16_t rc_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t rc_pseudo(const uint8_t *ip, int version, uint8_t proto, uint32_t l4len)
{
	uint32_t sum = version == 4 ? rc_sum(ip + 12, 8, 0) : rc_sum(ip + 8, 32, 0);

	sum += proto;
	sum += l4len >> 16;
	sum += l4len & 0xffff;
	return rc_fold(sum);
}

/* Returns the terminal protocol's offset, or 0 when it can't be found. */
static unsigned walk6(const uint8_t *pkt, size_t end, uint8_t *proto)
{
	unsigned off = 40, n = 0;
	uint8_t nh = pkt[6];

	while (nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60) {
		unsigned hl;
		if (n == 8 || off + 8 > end)
			return 0;
		n++;
		if (nh == 44)
			hl = 8;
		else if (nh == 51)
			hl = 4u * (pkt[off + 1] + 2u);
		else
			hl = 8u * (pkt[off + 1] + 1u);
		if (off + hl > end)
			return 0;
		nh = pkt[off];
		off += hl;
	}
	*proto = nh;
	return off;
}

void rc_classify(const uint8_t *pkt, size_t len, struct rc_info *out)
{
	unsigned ip_len, dlen, left;
	const uint8_t *l4;
	uint8_t proto;

	memset(out, 0, sizeof(*out));
	if (len < 20)
		return;
	if (pkt[0] >> 4 == 4) {
		unsigned ihl = (pkt[0] & 15u) * 4, tot = get16(pkt + 2);
		proto = pkt[9];
		if (proto != 6 && proto != 17)
			return;
		out->lane = proto == 6 ? RC_TCP : RC_UDP;
		out->version = 4;
		if (ihl < 20 || tot < ihl || tot > len || ihl != 20 || (get16(pkt + 6) & 0x3fff))
			return;
		ip_len = 20;
		dlen = tot;
	} else if (pkt[0] >> 4 == 6) {
		unsigned plen, off;
		if (len < 40)
			return;
		plen = get16(pkt + 4);
		off = walk6(pkt, plen && 40 + plen <= len ? 40 + plen : len, &proto);
		if (!off || (proto != 6 && proto != 17))
			return;
		out->lane = proto == 6 ? RC_TCP : RC_UDP;
		out->version = 6;
		if (plen == 0 || 40 + plen > len || off != 40)
			return;
		ip_len = 40;
		dlen = 40 + plen;
	} else {
		return;
	}
	left = dlen - ip_len;
	l4 = pkt + ip_len;
	if (proto == 6) {
		unsigned doff;
		if (left < 20)
			return;
		doff = (l4[12] >> 4) * 4u;
		if (doff < 20 || doff > left)
			return;
		out->l4_len = (uint16_t)doff;
	} else {
		if (left < 8 || get16(l4 + 4) != left)
			return;
		out->l4_len = 8;
	}
	out->clean = 1;
	out->ip_len = (uint16_t)ip_len;
	out->len = dlen;
	out->payload = dlen - ip_len - out->l4_len;
	if (proto == 6 && out->payload == 0) {
		unsigned f = l4[13];
		out->pure_ack = (f & 0x10) && !(f & ~0x58u);
	}
	out->key[0] = out->version;
	out->key[1] = proto;
	if (out->version == 4)
		memcpy(out->key + 2, pkt + 12, 8);
	else
		memcpy(out->key + 2, pkt + 8, 32);
	out->keylen = (uint8_t)(out->version == 4 ? 10 : 34);
	memcpy(out->key + out->keylen, l4, 4);
	out->keylen += 4;
}

int rc_csum_ok(const uint8_t *pkt, const struct rc_info *in)
{
	const uint8_t *l4 = pkt + in->ip_len;
	uint32_t l4len = in->len - in->ip_len;
	uint8_t proto = in->lane == RC_TCP ? 6 : 17;

	if (in->version == 4 && rc_fold(rc_sum(pkt, in->ip_len, 0)) != 0xffff)
		return 0;
	if (proto == 17 && get16(l4 + 6) == 0)
		return in->version == 4;
	return rc_fold(rc_sum(l4, l4len, rc_pseudo(pkt, in->version, proto, l4len))) == 0xffff;
}

const char *rc_geometry(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len)
{
	unsigned version, ip_len, proto, l4_len, payload;
	const uint8_t *l4;

	if (v->gso_type == TB_GSO_NONE) {
		if (v->flags || v->hdr_len || v->gso_size || v->csum_start || v->csum_offset)
			return "plain write with a non-zero virtio header";
		return NULL;
	}
	if (v->gso_type != TB_GSO_TCPV4 && v->gso_type != TB_GSO_TCPV6 &&
	    v->gso_type != TB_GSO_UDP_L4)
		return "unexpected gso_type";
	if (v->flags != TB_VNET_F_NEEDS_CSUM)
		return "superpacket without NEEDS_CSUM";
	if (len > 65535)
		return "superpacket over 65535 bytes";
	if (len < 1)
		return "empty superpacket";
	version = sp[0] >> 4;
	proto = v->gso_type == TB_GSO_UDP_L4 ? 17 : 6;
	if ((v->gso_type == TB_GSO_TCPV4 && version != 4) ||
	    (v->gso_type == TB_GSO_TCPV6 && version != 6) || (version != 4 && version != 6))
		return "gso_type and IP version disagree";
	if (version == 4) {
		ip_len = 20;
		if (len < 20)
			return "superpacket shorter than its IPv4 header";
		if (sp[0] != 0x45)
			return "IPv4 superpacket with options";
		if (get16(sp + 2) != len)
			return "IPv4 total length is not the superpacket's";
		if (get16(sp + 6) & 0x3fff)
			return "IPv4 superpacket marked as a fragment";
		if (sp[9] != proto)
			return "IPv4 protocol and gso_type disagree";
		if (rc_fold(rc_sum(sp, 20, 0)) != 0xffff)
			return "IPv4 header checksum wrong";
	} else {
		ip_len = 40;
		if (len < 40)
			return "superpacket shorter than its IPv6 header";
		if (get16(sp + 4) != len - 40)
			return "IPv6 payload length is not the superpacket's";
		if (sp[6] != proto)
			return "IPv6 next header and gso_type disagree";
	}
	if (v->csum_start != ip_len)
		return "csum_start is not the L4 header's offset";
	l4 = sp + ip_len;
	if (proto == 6) {
		unsigned f = l4[13];
		if (v->csum_offset != 16)
			return "TCP csum_offset is not 16";
		if (len < ip_len + 20u)
			return "superpacket shorter than its TCP header";
		l4_len = (l4[12] >> 4) * 4u;
		if (l4_len < 20 || ip_len + l4_len > len)
			return "TCP data offset out of range";
		if (!(f & 0x10) || (f & 0xa7))
			return "TCP superpacket with SYN/FIN/RST/URG/CWR or without ACK";
	} else {
		if (v->csum_offset != 6)
			return "UDP csum_offset is not 6";
		if (len < ip_len + 8u)
			return "superpacket shorter than its UDP header";
		l4_len = 8;
		if (get16(l4 + 4) != len - ip_len)
			return "UDP length is not the superpacket's";
	}
	if (v->hdr_len != ip_len + l4_len)
		return "hdr_len is not IP + L4 header length";
	if (v->hdr_len >= len)
		return "superpacket without payload";
	payload = (unsigned)len - v->hdr_len;
	if (v->gso_size == 0)
		return "gso_size 0";
	if (payload <= v->gso_size)
		return "superpacket of one segment";
	if ((payload + v->gso_size - 1) / v->gso_size > 64)
		return "more than 64 segments";
	if (get16(l4 + v->csum_offset) !=
	    rc_pseudo(sp, version, (uint8_t)proto, (uint32_t)(len - ip_len)))
		return "L4 checksum field is not the folded pseudo-header sum";
	return NULL;
}

int rc_segment(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len, uint8_t *out,
	       size_t outcap, size_t *offs, size_t *lens, unsigned max)
{
	unsigned hl = v->hdr_len, g = v->gso_size, ip_len = v->csum_start, n = 0;
	int version = sp[0] >> 4, tcp = v->gso_type != TB_GSO_UDP_L4;
	size_t pos = 0;

	if (rc_geometry(v, sp, len) || v->gso_type == TB_GSO_NONE)
		return -1;
	for (size_t at = hl; at < len; at += g, n++) {
		size_t chunk = len - at < g ? len - at : g, sl = hl + chunk;
		uint8_t *s = out + pos, *l4 = s + ip_len;
		uint32_t sum;
		unsigned c;

		if (n == max || outcap - pos < sl)
			return -1;
		memcpy(s, sp, hl);
		memcpy(s + hl, sp + at, chunk);
		if (version == 4) {
			put16(s + 2, (unsigned)sl);
			put16(s + 4, (get16(sp + 4) + n) & 0xffff);
			put16(s + 10, 0);
			put16(s + 10, (~rc_fold(rc_sum(s, 20, 0))) & 0xffff);
		} else {
			put16(s + 4, (unsigned)(sl - 40));
		}
		if (tcp) {
			put32(l4 + 4, get32(sp + ip_len + 4) + n * g);
			if (at + chunk < len)
				l4[13] &= (uint8_t)~0x09; /* PSH and FIN go on the last segment */
		} else {
			put16(l4 + 4, (unsigned)(sl - ip_len));
		}
		put16(l4 + v->csum_offset, 0);
		sum = rc_sum(l4, sl - ip_len,
			     rc_pseudo(s, version, tcp ? 6 : 17, (uint32_t)(sl - ip_len)));
		c = ~rc_fold(sum) & 0xffff;
		if (!tcp && c == 0)
			c = 0xffff;
		put16(l4 + v->csum_offset, c);
		offs[n] = pos;
		lens[n] = sl;
		pos += sl;
	}
	return (int)n;
}

const char *rc_same_segment(const uint8_t *seg, size_t seglen, const uint8_t *orig,
			    const struct rc_info *in)
{
	size_t csum = in->ip_len + (in->lane == RC_TCP ? 16u : 6u);

	if (!in->clean)
		return "a packet of an uncoalescible shape was merged";
	if (seglen != in->len)
		return "segment length differs from the packet's";
	for (size_t i = 0; i < seglen; i++) {
		if (i == csum || i == csum + 1)
			continue;
		if (in->version == 4 && (i == 10 || i == 11))
			continue;
		if (in->version == 4 && (i == 4 || i == 5) && (orig[6] & 0x40))
			continue;
		if (seg[i] != orig[i])
			return i < in->ip_len ? "IP header of a segment differs"
			       : i < (size_t)in->ip_len + in->l4_len
				       ? "L4 header of a segment differs"
				       : "payload of a segment differs";
	}
	return NULL;
}

/* IP then TCP/UDP headers of a packet whose IP length must be its length.
 * Returns 0 when they don't hold; sets the lengths and protocol. */
static int rc_ip(const uint8_t *p, size_t len, unsigned *ip_len, uint8_t *proto)
{
	if (len >= 1 && p[0] >> 4 == 4) {
		unsigned ihl = (p[0] & 15u) * 4;
		if (len < 20 || ihl < 20 || ihl > len || get16(p + 2) != len ||
		    (get16(p + 6) & 0x3fff))
			return 0;
		*ip_len = ihl;
		*proto = p[9];
		return 1;
	}
	if (len >= 1 && p[0] >> 4 == 6) {
		if (len < 40 || 40 + get16(p + 4) != len)
			return 0;
		*ip_len = 40;
		*proto = p[6];
		return 1;
	}
	return 0;
}

static int rc_l4(const uint8_t *p, size_t len, unsigned ip_len, uint8_t proto, unsigned *l4_len)
{
	size_t left = len - ip_len;

	if (proto == 6) {
		if (left < 20)
			return 0;
		*l4_len = (p[ip_len + 12] >> 4) * 4u;
		return *l4_len >= 20 && *l4_len <= left;
	}
	*l4_len = 8;
	return left >= 8 && get16(p + ip_len + 4) == left;
}

int rc_vnet_ok(const struct tb_vnet_hdr *v, const uint8_t *pkt, size_t len, unsigned *hdr_len)
{
	unsigned type = v->gso_type & 0x7f, ip_len = 0, l4_len = 0;
	int gso = type != TB_GSO_NONE, csum = v->flags & TB_VNET_F_NEEDS_CSUM;
	int tcp_gso = type == TB_GSO_TCPV4 || type == TB_GSO_TCPV6;
	uint8_t proto = 0;

	*hdr_len = 0;
	if (v->flags & ~(TB_VNET_F_NEEDS_CSUM | TB_VNET_F_DATA_VALID))
		return 0;
	if (gso && !tcp_gso && type != TB_GSO_UDP_L4)
		return 0;
	if ((v->gso_type & TB_GSO_ECN) && !tcp_gso)
		return 0;
	if (gso && v->gso_size == 0)
		return 0;
	if (csum && (v->csum_start >= len || (size_t)v->csum_start + v->csum_offset + 2 > len))
		return 0;
	if (!gso && !csum) {
		if (rc_ip(pkt, len, &ip_len, &proto) && (proto == 6 || proto == 17) &&
		    rc_l4(pkt, len, ip_len, proto, &l4_len))
			*hdr_len = ip_len + l4_len;
		return 1;
	}
	if (!rc_ip(pkt, len, &ip_len, &proto))
		return 0;
	if ((type == TB_GSO_TCPV4 && pkt[0] >> 4 != 4) ||
	    (type == TB_GSO_TCPV6 && pkt[0] >> 4 != 6))
		return 0;
	if (gso && proto != (type == TB_GSO_UDP_L4 ? 17 : 6))
		return 0;
	if (!gso && proto != 6 && proto != 17)
		return v->csum_start >= ip_len; /* only the IP header is known */
	if (!rc_l4(pkt, len, ip_len, proto, &l4_len))
		return 0;
	if (gso && ip_len + l4_len == len)
		return 0;
	if (csum && (v->csum_start != ip_len || v->csum_offset != (proto == 6 ? 16 : 6)))
		return 0;
	*hdr_len = ip_len + l4_len;
	return 1;
}
