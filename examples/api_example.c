/* SPDX-License-Identifier: MIT */
/*
 * The coalescer in one burst: ten TCP segments of one flow are "decrypted"
 * into buffers reserved from the arena, committed, and flushed to an
 * in-memory capture writer standing in for the TUN device. They come out as
 * one TSO superpacket: the PSH on the last segment closes the chain after it
 * is appended, and is carried into the superpacket's TCP header.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <tunbatch.h>

#define N_SEGS	10
#define MSS	1400
#define HDR_LEN 40 /* IPv4 20 + TCP 20 */
#define TCP_ACK 0x10
#define TCP_PSH 0x08

/* What the tunnel would get from decrypting one datagram: a TCP/IPv4
 * segment of the flow 10.0.0.1:40000 > 10.0.0.2:5201. */
static size_t decrypt_into(uint8_t *p, unsigned i)
{
	uint32_t seq = htonl(1000 + i * MSS), ack = htonl(1);
	uint16_t w;
	uint32_t sum;

	memset(p, 0, HDR_LEN);
	p[0] = 0x45;		  /* IPv4, 20-byte header */
	w = htons(HDR_LEN + MSS); /* total length */
	memcpy(p + 2, &w, 2);
	w = htons((uint16_t)(100 + i)); /* ID: ignored with DF set */
	memcpy(p + 4, &w, 2);
	p[6] = 0x40; /* DF */
	p[8] = 64;   /* TTL */
	p[9] = 6;    /* TCP */
	memcpy(p + 12, (uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
	w = (uint16_t)~tb_csum_fold(tb_csum_partial(p, 20, 0));
	memcpy(p + 10, &w, 2);

	uint8_t *t = p + 20;
	w = htons(40000);
	memcpy(t, &w, 2);
	w = htons(5201);
	memcpy(t + 2, &w, 2);
	memcpy(t + 4, &seq, 4);
	memcpy(t + 8, &ack, 4);
	t[12] = 5 << 4; /* data offset: 20 bytes */
	t[13] = TCP_ACK | (i == N_SEGS - 1 ? TCP_PSH : 0);
	w = htons(65000);
	memcpy(t + 14, &w, 2);
	memset(t + 20, 'a' + (int)i, MSS);

	/* TCP checksum: pseudo-header (addresses, protocol, length) + segment. */
	uint8_t pseudo[4] = {0, 6, (20 + MSS) >> 8, (20 + MSS) & 0xff};
	sum = tb_csum_partial(p + 12, 8, 0);
	sum = tb_csum_partial(pseudo, 4, sum);
	sum = tb_csum_partial(t, 20 + MSS, sum);
	w = (uint16_t)~tb_csum_fold(sum);
	memcpy(t + 16, &w, 2);
	return HDR_LEN + MSS;
}

int main(void)
{
	struct tb_arena *arena = tb_arena_create(0);
	struct tb_capture *tun = tb_capture_create(TB_CAP_TSO | TB_CAP_USO);
	struct tb_coalescer *co = NULL;
	struct tb_stats st;
	int rc = 1;

	if (!arena || !tun)
		goto out;
	co = tb_coalescer_create(tb_capture_writer(tun), arena, NULL);
	if (!co)
		goto out;

	/* One receive burst: each packet is decrypted straight into the arena. */
	for (unsigned i = 0; i < N_SEGS; i++) {
		uint8_t *buf = tb_coalescer_reserve(co, 65535);

		if (!buf)
			goto out;
		tb_coalescer_commit(co, buf, decrypt_into(buf, i));
	}
	if (tb_coalescer_flush(co) < 0) /* TCP lane, then UDP, then passthrough */
		goto out;

	for (size_t i = 0; i < tb_capture_count(tun); i++) {
		struct tb_vnet_hdr v;
		size_t len;

		tb_capture_get(tun, i, &len, &v);
		printf("write %zu: %zu bytes, gso_type %u, gso_size %u, hdr_len %u, "
		       "csum_start %u, csum_offset %u\n",
		       i, len, v.gso_type, v.gso_size, v.hdr_len, v.csum_start, v.csum_offset);
	}
	tb_coalescer_stats(co, &st);
	printf("%llu packets in, %llu writes, %llu superpackets holding %llu segments; "
	       "chains closed by psh: %llu\n",
	       (unsigned long long)st.pkts_in, (unsigned long long)st.writes,
	       (unsigned long long)st.superpackets, (unsigned long long)st.segments,
	       (unsigned long long)st.why[TB_WHY_PSH]);
	/* Ten segments, one write: the kernel cuts it back into ten on its side. */
	rc = st.writes == 1 && st.segments == N_SEGS ? 0 : 1;
out:
	tb_coalescer_destroy(co);
	tb_capture_destroy(tun);
	tb_arena_destroy(arena);
	return rc;
}
