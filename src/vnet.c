/* SPDX-License-Identifier: MIT */
/*
 * The legacy virtio_net_hdr: 10 bytes, fields in host byte order; and the
 * check of one read from TUN against the packet that followed it.
 */
#include "internal.h"

void tb_vnet_encode(const struct tb_vnet_hdr *h, uint8_t out[TB_VNET_HDR_LEN])
{
	out[0] = h->flags;
	out[1] = h->gso_type;
	memcpy(out + 2, &h->hdr_len, 2);
	memcpy(out + 4, &h->gso_size, 2);
	memcpy(out + 6, &h->csum_start, 2);
	memcpy(out + 8, &h->csum_offset, 2);
}

void tb_vnet_decode(const uint8_t in[TB_VNET_HDR_LEN], struct tb_vnet_hdr *h)
{
	h->flags = in[0];
	h->gso_type = in[1];
	memcpy(&h->hdr_len, in + 2, 2);
	memcpy(&h->gso_size, in + 4, 2);
	memcpy(&h->csum_start, in + 6, 2);
	memcpy(&h->csum_offset, in + 8, 2);
}

static const char *const err_names[TB_VNET_E_COUNT] = {
	[TB_VNET_OK] = "ok",
	[TB_VNET_E_FLAGS] = "flags",
	[TB_VNET_E_GSO_TYPE] = "gso_type",
	[TB_VNET_E_ECN] = "ecn",
	[TB_VNET_E_GSO_SIZE] = "gso_size",
	[TB_VNET_E_CSUM_START] = "csum_start",
	[TB_VNET_E_CSUM_OFFSET] = "csum_offset",
	[TB_VNET_E_IP_TRUNC] = "ip_trunc",
	[TB_VNET_E_IP_VERSION] = "ip_version",
	[TB_VNET_E_IP_IHL] = "ip_ihl",
	[TB_VNET_E_IP_LEN] = "ip_len",
	[TB_VNET_E_IP_FRAG] = "ip_frag",
	[TB_VNET_E_GSO_IP] = "gso_ip",
	[TB_VNET_E_GSO_PROTO] = "gso_proto",
	[TB_VNET_E_L4_TRUNC] = "l4_trunc",
	[TB_VNET_E_TCP_DOFF] = "tcp_doff",
	[TB_VNET_E_UDP_LEN] = "udp_len",
	[TB_VNET_E_GSO_EMPTY] = "gso_empty",
	[TB_VNET_E_CSUM_L4] = "csum_l4",
};

const char *tb_vnet_err_name(enum tb_vnet_err err)
{
	if ((unsigned)err >= TB_VNET_E_COUNT)
		return "unknown";
	return err_names[err];
}

/* The IP header, whose length field must cover the buffer exactly: a
 * checksum or a segmentation over trailing bytes would be wrong. */
static enum tb_vnet_err parse_ip(const uint8_t *pkt, size_t len, struct tbi_hdrs *h)
{
	if (len < 1)
		return TB_VNET_E_IP_TRUNC;
	h->version = pkt[0] >> 4;
	if (h->version == 4) {
		unsigned ihl = (unsigned)(pkt[0] & 0x0f) * 4;
		if (len < 20)
			return TB_VNET_E_IP_TRUNC;
		if (ihl < 20)
			return TB_VNET_E_IP_IHL;
		if (ihl > len)
			return TB_VNET_E_IP_TRUNC;
		if (tbi_get16(pkt + 2) != len)
			return TB_VNET_E_IP_LEN;
		if (tbi_get16(pkt + 6) & 0x3fff) /* MF or a fragment offset */
			return TB_VNET_E_IP_FRAG;
		h->proto = pkt[9];
		h->ip_len = (uint16_t)ihl;
		return TB_VNET_OK;
	}
	if (h->version == 6) {
		if (len < 40)
			return TB_VNET_E_IP_TRUNC;
		/* A payload length of 0 (a jumbogram) fails here too. */
		if (40 + (size_t)tbi_get16(pkt + 4) != len)
			return TB_VNET_E_IP_LEN;
		h->proto = pkt[6];
		h->ip_len = 40;
		return TB_VNET_OK;
	}
	return TB_VNET_E_IP_VERSION;
}

/* The TCP or UDP header right after the IP header. */
static enum tb_vnet_err parse_l4(const uint8_t *pkt, size_t len, struct tbi_hdrs *h)
{
	const uint8_t *l4 = pkt + h->ip_len;
	size_t left = len - h->ip_len;
	unsigned l4_len;

	if (h->proto == TBI_PROTO_TCP) {
		if (left < 20)
			return TB_VNET_E_L4_TRUNC;
		l4_len = (unsigned)(l4[12] >> 4) * 4;
		if (l4_len < 20)
			return TB_VNET_E_TCP_DOFF;
		if (l4_len > left)
			return TB_VNET_E_L4_TRUNC;
	} else {
		if (left < 8)
			return TB_VNET_E_L4_TRUNC;
		if (tbi_get16(l4 + 4) != left)
			return TB_VNET_E_UDP_LEN;
		l4_len = 8;
	}
	h->hdr_len = (uint16_t)(h->ip_len + l4_len);
	return TB_VNET_OK;
}

/* hdr_len of a packet nobody asked anything of: its headers if it is a
 * complete TCP or UDP packet, else 0. */
static uint16_t plain_hdr_len(const uint8_t *pkt, size_t len)
{
	struct tbi_hdrs h = {0};

	if (parse_ip(pkt, len, &h) != TB_VNET_OK)
		return 0;
	if (h.proto != TBI_PROTO_TCP && h.proto != TBI_PROTO_UDP)
		return 0;
	if (parse_l4(pkt, len, &h) != TB_VNET_OK)
		return 0;
	return h.hdr_len;
}

static int is_gso_tcp(unsigned type)
{
	return type == TB_GSO_TCPV4 || type == TB_GSO_TCPV6;
}

enum tb_vnet_err tbi_vnet_check(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len,
				struct tbi_hdrs *h)
{
	unsigned type = vh->gso_type & ~(unsigned)TB_GSO_ECN;
	int gso = type != TB_GSO_NONE;
	int csum = vh->flags & TB_VNET_F_NEEDS_CSUM;
	enum tb_vnet_err err;

	memset(h, 0, sizeof(*h));
	if (!pkt)
		len = 0;
	if (vh->flags & ~(TB_VNET_F_NEEDS_CSUM | TB_VNET_F_DATA_VALID))
		return TB_VNET_E_FLAGS;
	if (gso && !is_gso_tcp(type) && type != TB_GSO_UDP_L4)
		return TB_VNET_E_GSO_TYPE;
	if ((vh->gso_type & TB_GSO_ECN) && !is_gso_tcp(type))
		return TB_VNET_E_ECN;
	if (gso && vh->gso_size == 0)
		return TB_VNET_E_GSO_SIZE;
	if (csum) {
		if (vh->csum_start >= len)
			return TB_VNET_E_CSUM_START;
		if ((size_t)vh->csum_start + vh->csum_offset + 2 > len)
			return TB_VNET_E_CSUM_OFFSET;
	}
	if (!gso && !csum) {
		h->hdr_len = plain_hdr_len(pkt, len);
		return TB_VNET_OK;
	}
	if ((err = parse_ip(pkt, len, h)) != TB_VNET_OK)
		return err;
	if ((type == TB_GSO_TCPV4 && h->version != 4) || (type == TB_GSO_TCPV6 && h->version != 6))
		return TB_VNET_E_GSO_IP;
	if (gso) {
		if (h->proto != (type == TB_GSO_UDP_L4 ? TBI_PROTO_UDP : TBI_PROTO_TCP))
			return TB_VNET_E_GSO_PROTO;
	} else if (h->proto != TBI_PROTO_TCP && h->proto != TBI_PROTO_UDP) {
		/* Another protocol, or IPv6 extension headers first: only the
		 * IP header is known, and the checksum must lie past it. */
		return vh->csum_start < h->ip_len ? TB_VNET_E_CSUM_L4 : TB_VNET_OK;
	}
	if ((err = parse_l4(pkt, len, h)) != TB_VNET_OK)
		return err;
	if (gso && h->hdr_len == len)
		return TB_VNET_E_GSO_EMPTY;
	if (csum &&
	    (vh->csum_start != h->ip_len ||
	     vh->csum_offset != (h->proto == TBI_PROTO_TCP ? TBI_TCP_CSUM_OFF : TBI_UDP_CSUM_OFF)))
		return TB_VNET_E_CSUM_L4;
	return TB_VNET_OK;
}

enum tb_vnet_err tb_vnet_validate(struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len)
{
	struct tbi_hdrs h;
	enum tb_vnet_err err = tbi_vnet_check(vh, pkt, len, &h);

	if (err == TB_VNET_OK)
		vh->hdr_len = h.hdr_len;
	return err;
}
