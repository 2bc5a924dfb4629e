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

/*
 * Each rule is tagged with whose it is. KERNEL: Linux refuses the write, or
 * takes it and delivers segments that are not the packets that went in;
 * ktest_oracle writes each rule's edges to a real TUN and checks that. OURS:
 * the kernel takes the superpacket and cuts it right, but the coalescer
 * promises more (plain shapes only, what Linux GRO would have built).
 */
#define RULE(cls, cond, msg)                                                                       \
	do {                                                                                       \
		if ((which & (cls)) && (cond))                                                     \
			return msg;                                                                \
	} while (0)
#define KERNEL RC_KERNEL
#define OURS   RC_OURS

const char *rc_rules(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len, unsigned which)
{
	unsigned version, ip_len, proto, l4_len, payload, type = v->gso_type & 0x7fu;
	int csum = v->flags & TB_VNET_F_NEEDS_CSUM;
	const uint8_t *l4;

	if (v->gso_type == TB_GSO_NONE) {
		/* We write plain packets with an all-zero header; the kernel
		 * would also take NEEDS_CSUM on one. */
		RULE(OURS, v->flags || v->hdr_len || v->gso_size || v->csum_start || v->csum_offset,
		     "plain write with a non-zero virtio header");
		return NULL;
	}
	/* virtio_net_hdr_to_skb: any other type is -EINVAL. UFO (UDP) is taken
	 * but cut into IP fragments, not datagrams. */
	RULE(KERNEL, type != TB_GSO_TCPV4 && type != TB_GSO_TCPV6 && type != TB_GSO_UDP_L4,
	     "unexpected gso_type");
	/* virtio_net_hdr_to_skb: UDP_L4 with the ECN bit is not SKB_GSO_UDP_L4. */
	RULE(KERNEL, type == TB_GSO_UDP_L4 && (v->gso_type & TB_GSO_ECN), "ECN bit on UDP_L4");
	/* TCP with ECN is taken (CWR on the first segment only); we never set it. */
	RULE(OURS, v->gso_type & TB_GSO_ECN, "unexpected gso_type");
	/* virtio_net_hdr_to_skb: UDP_L4 needs NEEDS_CSUM; TCP without it is
	 * dissected and its checksum seed rebuilt by tcp4/6_gso_segment. */
	RULE(KERNEL, type == TB_GSO_UDP_L4 && !csum, "superpacket without NEEDS_CSUM");
	RULE(OURS, v->flags != TB_VNET_F_NEEDS_CSUM, "superpacket without NEEDS_CSUM");
	/* tun_get_user: an empty write has no IP version. */
	RULE(KERNEL, len < 1, "empty superpacket");
	if (len < 1)
		return NULL;
	version = sp[0] >> 4;
	proto = type == TB_GSO_UDP_L4 ? 17 : 6;
	/* tun_get_user drops a version other than 4 and 6; tcp4_gso_segment
	 * and tcp6_gso_segment refuse the other family's type. */
	RULE(KERNEL,
	     (type == TB_GSO_TCPV4 && version != 4) || (type == TB_GSO_TCPV6 && version != 6) ||
		     (version != 4 && version != 6),
	     "gso_type and IP version disagree");
	if (version != 4 && version != 6)
		return NULL;
	/* Linux GRO builds at most 64 KiB (GRO_LEGACY_MAX_SIZE), and so do we,
	 * headers included, in both families. */
	RULE(OURS, len > 65535, "superpacket over 65535 bytes");
	if (version == 4) {
		/* ip_rcv_core: header cut, IHL < 5, total length other than the
		 * packet's (longer: dropped; shorter: trimmed), bad header
		 * checksum. */
		RULE(KERNEL, len < 20, "superpacket shorter than its IPv4 header");
		if (len < 20)
			return NULL;
		ip_len = (sp[0] & 15u) * 4;
		RULE(KERNEL, ip_len < 20 || ip_len > len, "IPv4 IHL out of range");
		if (ip_len < 20 || ip_len > len)
			return NULL;
		/* Options are copied into every segment by inet_gso_segment. */
		RULE(OURS, ip_len != 20, "IPv4 superpacket with options");
		/* BIG TCP: iph_totlen takes a total length of 0 on a TCP GSO
		 * packet as "the whole packet", at any size (measured up to
		 * 135000 bytes); any other packet longer than the 16-bit field
		 * can't be described. We always give the real length. */
		RULE(KERNEL, get16(sp + 2) != len && !(type == TB_GSO_TCPV4 && get16(sp + 2) == 0),
		     "IPv4 total length is not the superpacket's");
		RULE(OURS, get16(sp + 2) != len, "IPv4 total length is not the superpacket's");
		/* inet_gso_segment copies MF and the offset into every segment,
		 * and they are forwarded as such; GRO never merges fragments. */
		RULE(OURS, get16(sp + 6) & 0x3fff, "IPv4 superpacket marked as a fragment");
		/* inet_gso_segment dispatches on the protocol, whose handler
		 * refuses a gso_type of the other protocol. */
		RULE(KERNEL, sp[9] != proto, "IPv4 protocol and gso_type disagree");
		RULE(KERNEL, rc_fold(rc_sum(sp, ip_len, 0)) != 0xffff,
		     "IPv4 header checksum wrong");
	} else {
		/* ip6_rcv_core: header cut, payload length other than the
		 * packet's; ipv6_gso_segment: next header of the other
		 * protocol. */
		RULE(KERNEL, len < 40, "superpacket shorter than its IPv6 header");
		if (len < 40)
			return NULL;
		ip_len = 40;
		/* The payload length holds at most 65535; 0 means a jumbogram,
		 * which needs a hop-by-hop jumbo option. */
		RULE(KERNEL, len > 65535u + 40, "superpacket over 65535 bytes");
		RULE(KERNEL, get16(sp + 4) != len - 40,
		     "IPv6 payload length is not the superpacket's");
		RULE(KERNEL, sp[6] != proto, "IPv6 next header and gso_type disagree");
	}
	/* virtio_net_hdr_to_skb refuses csum_start below the IP header's
	 * minimum; past it, the software checksum of every segment starts in
	 * the wrong place. Without NEEDS_CSUM (TCP) csum_start is unused. */
	RULE(csum ? KERNEL : OURS, v->csum_start != ip_len,
	     "csum_start is not the L4 header's offset");
	l4 = sp + ip_len;
	if (proto == 6) {
		/* virtio_net_hdr_to_skb: a partial checksum on TCP must point
		 * at the TCP checksum field. */
		RULE(csum ? KERNEL : OURS, v->csum_offset != 16, "TCP csum_offset is not 16");
		/* virtio_net_hdr_to_skb pulls the 20-byte header;
		 * tcp_gso_segment refuses a data offset below 5 or past the
		 * end. */
		RULE(KERNEL, len < ip_len + 20u, "superpacket shorter than its TCP header");
		if (len < ip_len + 20u)
			return NULL;
		l4_len = (l4[12] >> 4) * 4u;
		RULE(KERNEL, l4_len < 20 || ip_len + l4_len > len, "TCP data offset out of range");
		if (l4_len < 20 || ip_len + l4_len > len)
			return NULL;
		/* tcp_gso_segment cuts these too (FIN and PSH on the last
		 * segment, CWR on the first), but GRO never merges them. */
		RULE(OURS, !(l4[13] & 0x10) || (l4[13] & 0xa7),
		     "TCP superpacket with SYN/FIN/RST/URG/CWR or without ACK");
	} else {
		/* virtio_net_hdr_to_skb: csum_offset must be the UDP checksum's. */
		RULE(KERNEL, v->csum_offset != 6, "UDP csum_offset is not 6");
		RULE(KERNEL, len < ip_len + 8u, "superpacket shorter than its UDP header");
		if (len < ip_len + 8u)
			return NULL;
		l4_len = 8;
		/* __udp_gso_segment adjusts the checksum seed from the old UDP
		 * length to each segment's: another length leaves every
		 * segment's checksum wrong. */
		RULE(KERNEL, get16(l4 + 4) != len - ip_len, "UDP length is not the superpacket's");
	}
	/* tun_get_user only refuses hdr_len past the packet (the kernel finds
	 * the headers itself); we give the exact header length. */
	RULE(KERNEL, v->hdr_len > len, "hdr_len is not IP + L4 header length");
	RULE(OURS, v->hdr_len != ip_len + l4_len, "hdr_len is not IP + L4 header length");
	/* No payload, or no more than gso_size: virtio_net_hdr_to_skb takes it
	 * as a plain packet ("too small packets are not really GSO ones"); we
	 * never write a superpacket of one segment. */
	RULE(OURS, ip_len + l4_len >= len, "superpacket without payload");
	payload = (unsigned)len - ip_len - l4_len;
	/* virtio_net_hdr_to_skb: gso_size 0 is -EINVAL. */
	RULE(KERNEL, v->gso_size == 0, "gso_size 0");
	if (v->gso_size == 0)
		return NULL;
	RULE(OURS, payload <= v->gso_size, "superpacket of one segment");
	/* virtio_net_hdr_to_skb: UDP_L4 payload over gso_size *
	 * UDP_MAX_SEGMENTS (128) is -EINVAL. TCP has no such limit; Linux
	 * GRO merges at most 64 segments (MAX_GRO_SKBS), and so do we. */
	RULE(KERNEL, proto == 17 && payload > 128u * v->gso_size, "more than 128 UDP segments");
	RULE(OURS, (payload + v->gso_size - 1) / v->gso_size > 64, "more than 64 segments");
	/* With NEEDS_CSUM the field is the seed every segment's checksum is
	 * finished from (CHECKSUM_PARTIAL): the pseudo-header sum, folded, not
	 * inverted. */
	RULE(csum ? KERNEL : OURS,
	     get16(l4 + (proto == 6 ? 16 : 6)) !=
		     rc_pseudo(sp, (int)version, (uint8_t)proto, (uint32_t)(len - ip_len)),
	     "L4 checksum field is not the folded pseudo-header sum");
	return NULL;
}

#undef RULE
#undef KERNEL
#undef OURS

const char *rc_geometry(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len)
{
	return rc_rules(v, sp, len, RC_KERNEL | RC_OURS);
}

int rc_cut(const uint8_t *sp, size_t len, unsigned ip_len, unsigned hdr_len, int tcp, unsigned g,
	   uint8_t *out, size_t outcap, size_t *offs, size_t *lens, unsigned max)
{
	int version = sp[0] >> 4;
	size_t pos = 0, at = hdr_len;
	unsigned n = 0;

	if (!g || g > len - hdr_len)
		g = len > hdr_len ? (unsigned)(len - hdr_len) : 1; /* one packet */
	do {
		size_t chunk = len - at < g ? len - at : g, sl = hdr_len + chunk;
		uint8_t *s = out + pos, *l4 = s + ip_len;
		uint32_t sum;
		unsigned c;

		if (n == max || outcap - pos < sl)
			return -1;
		memcpy(s, sp, hdr_len);
		memcpy(s + hdr_len, sp + at, chunk);
		if (version == 4) {
			put16(s + 2, (unsigned)sl);
			put16(s + 4, (get16(sp + 4) + n) & 0xffff);
			put16(s + 10, 0);
			put16(s + 10, (~rc_fold(rc_sum(s, ip_len, 0))) & 0xffff);
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
		put16(l4 + (tcp ? 16 : 6), 0);
		sum = rc_sum(l4, sl - ip_len,
			     rc_pseudo(s, version, tcp ? 6 : 17, (uint32_t)(sl - ip_len)));
		c = ~rc_fold(sum) & 0xffff;
		if (!tcp && c == 0)
			c = 0xffff;
		put16(l4 + (tcp ? 16 : 6), c);
		offs[n] = pos;
		lens[n] = sl;
		pos += sl;
		at += chunk;
		n++;
	} while (at < len);
	return (int)n;
}

int rc_segment(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len, uint8_t *out,
	       size_t outcap, size_t *offs, size_t *lens, unsigned max)
{
	if (rc_geometry(v, sp, len) || v->gso_type == TB_GSO_NONE)
		return -1;
	return rc_cut(sp, len, v->csum_start, v->hdr_len, v->gso_type != TB_GSO_UDP_L4, v->gso_size,
		      out, outcap, offs, lens, max);
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

/*
 * The sources of each rule, as for rc_rules (ktest_oracle writes the edges of
 * the kernel's): "kernel" where Linux refuses such a header on a TUN write
 * (virtio_net_hdr_to_skb, ip_rcv_core, tcp/udp GSO), "ours" where
 * tb_vnet_validate refuses a header the kernel would take but never hands a
 * reader.
 */
int rc_vnet_ok(const struct tb_vnet_hdr *v, const uint8_t *pkt, size_t len, unsigned *hdr_len)
{
	unsigned type = v->gso_type & 0x7f, ip_len = 0, l4_len = 0;
	int gso = type != TB_GSO_NONE, csum = v->flags & TB_VNET_F_NEEDS_CSUM;
	int tcp_gso = type == TB_GSO_TCPV4 || type == TB_GSO_TCPV6;
	uint8_t proto = 0;

	*hdr_len = 0;
	/* Ours: virtio_net_hdr_from_skb sets no other flag. */
	if (v->flags & ~(TB_VNET_F_NEEDS_CSUM | TB_VNET_F_DATA_VALID))
		return 0;
	/* Kernel: virtio_net_hdr_to_skb knows no other type (UFO, which it
	 * takes, is ours: it cuts IP fragments). */
	if (gso && !tcp_gso && type != TB_GSO_UDP_L4)
		return 0;
	/* Kernel: the ECN bit makes UDP_L4 another SKB_GSO type. */
	if ((v->gso_type & TB_GSO_ECN) && !tcp_gso)
		return 0;
	/* Kernel: virtio_net_hdr_to_skb, gso_size 0. */
	if (gso && v->gso_size == 0)
		return 0;
	/* Kernel: virtio_net_hdr_to_skb pulls csum_start + csum_offset + 2. */
	if (csum && (v->csum_start >= len || (size_t)v->csum_start + v->csum_offset + 2 > len))
		return 0;
	if (!gso && !csum) {
		if (rc_ip(pkt, len, &ip_len, &proto) && (proto == 6 || proto == 17) &&
		    rc_l4(pkt, len, ip_len, proto, &l4_len))
			*hdr_len = ip_len + l4_len;
		return 1;
	}
	/* Kernel: ip_rcv_core / ip6_rcv_core drop a cut header and refuse or
	 * trim a length that is not the packet's. Ours: a fragment (the kernel
	 * copies MF into every segment) and BIG TCP's total length 0 (a TUN
	 * reader gets at most 64 KiB). */
	if (!rc_ip(pkt, len, &ip_len, &proto))
		return 0;
	/* Kernel: tcp4/6_gso_segment refuse the other family. */
	if ((type == TB_GSO_TCPV4 && pkt[0] >> 4 != 4) ||
	    (type == TB_GSO_TCPV6 && pkt[0] >> 4 != 6))
		return 0;
	/* Kernel: the protocol's GSO handler refuses the other's type. */
	if (gso && proto != (type == TB_GSO_UDP_L4 ? 17 : 6))
		return 0;
	/* Ours: the kernel only needs csum_start past 20 bytes here. */
	if (!gso && proto != 6 && proto != 17)
		return v->csum_start >= ip_len; /* only the IP header is known */
	/* Kernel for GSO (a cut header, data offset below 5, a UDP length
	 * that leaves every segment's checksum wrong); ours for a plain
	 * packet with a partial checksum. */
	if (!rc_l4(pkt, len, ip_len, proto, &l4_len))
		return 0;
	/* Ours: virtio_net_hdr_to_skb takes GSO without payload as a plain
	 * packet, and never hands one out as GSO. */
	if (gso && ip_len + l4_len == len)
		return 0;
	/* Kernel: virtio_net_hdr_to_skb wants the TCP/UDP checksum field, and
	 * a csum_start other than the L4 header's corrupts every segment. */
	if (csum && (v->csum_start != ip_len || v->csum_offset != (proto == 6 ? 16 : 6)))
		return 0;
	*hdr_len = ip_len + l4_len;
	return 1;
}
