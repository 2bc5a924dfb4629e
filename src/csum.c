/* SPDX-License-Identifier: MIT */
/*
 * Internet checksum. Long buffers are summed as 64-bit words into two
 * accumulators whose carries are counted apart, so the additions of one
 * 64-byte step do not wait on each other; the rest goes through 32-bit
 * words in a 64-bit accumulator, which is cheaper for the short pieces
 * (headers, pseudo-headers) that make up most calls.
 */
#include "internal.h"

#include <errno.h>

static inline uint64_t lo32(uint64_t x)
{
	return x & 0xffffffffu;
}

uint32_t tb_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = sum;

	if (len >= 64) {
		uint64_t a = 0, b = 0, ca = 0, cb = 0;
		do {
			uint64_t w[8];
			memcpy(w, p, 64);
			/* x += w wrapped iff x < w afterwards: count the carry. */
			a += w[0];
			ca += a < w[0];
			b += w[1];
			cb += b < w[1];
			a += w[2];
			ca += a < w[2];
			b += w[3];
			cb += b < w[3];
			a += w[4];
			ca += a < w[4];
			b += w[5];
			cb += b < w[5];
			a += w[6];
			ca += a < w[6];
			b += w[7];
			cb += b < w[7];
			p += 64;
			len -= 64;
		} while (len >= 64);
		/* A carry out of bit 63 is worth 1 after the end-around fold. */
		acc += lo32(a) + (a >> 32) + lo32(b) + (b >> 32) + ca + cb;
	}
	if (len >= 32) {
		uint32_t w[8];
		memcpy(w, p, 32);
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
		acc += (uint64_t)w[4] + w[5] + w[6] + w[7];
		p += 32;
		len -= 32;
	}
	if (len >= 16) {
		uint32_t w[4];
		memcpy(w, p, 16);
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the high-order byte of a zero-padded word. */
		uint8_t last[2] = {p[0], 0};
		uint16_t h;
		memcpy(&h, last, 2);
		acc += h;
	}
	acc = lo32(acc) + (acc >> 32);
	acc = lo32(acc) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t tb_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t tbi_pseudo_sum(const uint8_t *ip, uint8_t version, uint8_t proto, uint32_t l4_len)
{
	uint8_t tail[8] = {0, 0, (uint8_t)(l4_len >> 24), (uint8_t)(l4_len >> 16),
			   0, 0, (uint8_t)(l4_len >> 8),  (uint8_t)l4_len};
	uint32_t sum;

	tail[5] = proto;
	if (version == 4)
		sum = tb_csum_partial(ip + 12, 8, 0);
	else
		sum = tb_csum_partial(ip + 8, 32, 0);
	return tb_csum_partial(tail, sizeof(tail), sum);
}

void tbi_ipv4_set_csum(uint8_t *ip, unsigned ihl_bytes)
{
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = (uint16_t)~tb_csum_fold(tb_csum_partial(ip, ihl_bytes, 0));
	memcpy(ip + 10, &c, 2);
}

int tbi_verify_csum(const struct tbi_pkt *p)
{
	const uint8_t *ip = p->data;
	uint32_t l4len = p->len - p->ip_len;
	uint32_t sum;

	if (p->version == 4 && tb_csum_fold(tb_csum_partial(ip, p->ip_len, 0)) != 0xffff)
		return 0;
	if (p->proto == TBI_PROTO_UDP && tbi_get16(ip + p->ip_len + 6) == 0)
		return p->version == 4; /* no checksum: allowed on IPv4 only */
	sum = tbi_pseudo_sum(ip, p->version, p->proto, l4len);
	sum = tb_csum_partial(ip + p->ip_len, l4len, sum);
	return tb_csum_fold(sum) == 0xffff;
}

/* Whether the checksum at csum_start is a UDP one, where 0 means "none". */
static int csum_is_udp(const uint8_t *pkt, size_t len, size_t csum_start, size_t csum_offset)
{
	size_t off;
	uint8_t nh = 0;

	if (csum_offset != TBI_UDP_CSUM_OFF || len < 20)
		return 0;
	if (pkt[0] >> 4 == 4)
		return pkt[9] == TBI_PROTO_UDP && (size_t)(pkt[0] & 0x0f) * 4 == csum_start;
	if (pkt[0] >> 4 != 6 || len < 40)
		return 0;
	off = tbi_ipv6_walk(pkt, len, &nh);
	return nh == TBI_PROTO_UDP && off == csum_start;
}

/* The finished checksum of pkt[start..len), whose field holds the
 * pseudo-header sum. */
uint16_t tbi_csum_finish_value(const uint8_t *pkt, size_t len, size_t start, size_t offset)
{
	uint16_t c = (uint16_t)~tb_csum_fold(tb_csum_partial(pkt + start, len - start, 0));

	if (c == 0 && csum_is_udp(pkt, len, start, offset))
		c = 0xffff;
	return c;
}

int tb_csum_finish(const struct tb_vnet_hdr *vh, uint8_t *pkt, size_t len)
{
	size_t field;
	uint16_t c;

	if (!vh || (!pkt && len))
		return -EINVAL;
	if (!(vh->flags & TB_VNET_F_NEEDS_CSUM))
		return 0;
	field = (size_t)vh->csum_start + vh->csum_offset;
	if (vh->csum_start >= len || field + 2 > len)
		return -EINVAL;
	c = tbi_csum_finish_value(pkt, len, vh->csum_start, vh->csum_offset);
	memcpy(pkt + field, &c, 2);
	return 0;
}
