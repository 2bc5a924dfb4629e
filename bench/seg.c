/* SPDX-License-Identifier: MIT */
/* Segmentation: TSO and USO superpackets of 45 segments cut back into packets. */
#include "bench.h"
#include "tunbatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGS 45

#ifdef TB_BENCH_HAVE_SEGMENT

struct segctx {
	struct tb_vnet_hdr vh;
	const uint8_t *pkt;
	size_t len;
	uint8_t *out; /* NULL: tb_segment with a callback */
	size_t out_size;
	unsigned reps;
	uint64_t acc;
	int bad;
};

/* Reads every iovec length, nothing else. */
static int seg_cb(void *user, const struct iovec *iov, unsigned n)
{
	struct segctx *s = user;

	for (unsigned i = 0; i < n; i++)
		s->acc += iov[i].iov_len;
	return 0;
}

static uint64_t seg_pass(void *arg)
{
	struct segctx *s = arg;
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < s->reps; i++) {
		int n = s->out ? tb_segment_into(&s->vh, s->pkt, s->len, s->out, s->out_size, NULL,
						 SEGS)
			       : tb_segment(&s->vh, s->pkt, s->len, seg_cb, s);
		s->bad += n != SEGS;
	}
	return now_ns() - t0;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* A superpacket as TUN hands it over: the checksum field holds the
 * pseudo-header sum, folded and not inverted. */
static size_t build(uint8_t *p, int v6, int udp, struct tb_vnet_hdr *vh)
{
	unsigned iph = v6 ? 40 : 20, l4h = udp ? 8 : 32;
	unsigned mss = (v6 ? 1348 : 1368) + (udp ? 4 : 0);
	size_t len = iph + l4h + (size_t)SEGS * mss, l4len = len - iph;
	uint8_t *l4 = p + iph;
	uint32_t s = 0;

	memset(p, 0, iph + l4h);
	for (size_t i = iph + l4h; i < len; i++)
		p[i] = (uint8_t)('0' + i % 10);
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)(l4len >> 8), p[5] = (uint8_t)l4len;
		p[6] = udp ? 17 : 6;
		p[7] = 64;
		p[8] = 0xfd, p[9] = 0x77, p[23] = 1;
		p[24] = 0xfd, p[25] = 0x77, p[39] = 2;
		for (int i = 8; i < 40; i += 2)
			s += (uint32_t)(p[i] << 8 | p[i + 1]);
	} else {
		p[0] = 0x45;
		p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len;
		p[6] = 0x40;
		p[8] = 64;
		p[9] = udp ? 17 : 6;
		p[12] = 10, p[13] = 77, p[15] = 1;
		p[16] = 10, p[17] = 77, p[19] = 2;
		for (int i = 12; i < 20; i += 2)
			s += (uint32_t)(p[i] << 8 | p[i + 1]);
	}
	p[iph] = 0x9c, p[iph + 1] = 0x40, p[iph + 3] = 0x51; /* ports 40000 -> 81 */
	s += (udp ? 17u : 6u) + (uint32_t)l4len;
	if (udp) {
		l4[4] = (uint8_t)(l4len >> 8), l4[5] = (uint8_t)l4len;
	} else {
		l4[7] = 1;     /* seq */
		l4[12] = 0x80; /* 32-byte header */
		l4[13] = 0x18; /* ACK | PSH */
		l4[14] = 1;
		l4[20] = 1, l4[21] = 1, l4[22] = 8, l4[23] = 10;
	}
	s = fold(s);
	l4[udp ? 6 : 16] = (uint8_t)(s >> 8);
	l4[udp ? 7 : 17] = (uint8_t)s;
	memset(vh, 0, sizeof(*vh));
	vh->flags = TB_VNET_F_NEEDS_CSUM;
	vh->gso_type = udp ? TB_GSO_UDP_L4 : v6 ? TB_GSO_TCPV6 : TB_GSO_TCPV4;
	vh->hdr_len = (uint16_t)(iph + l4h);
	vh->gso_size = (uint16_t)mss;
	vh->csum_start = (uint16_t)iph;
	vh->csum_offset = udp ? 6 : 16;
	return len;
}

int seg_run(double secs, int runs, struct seg_result *r, int nr)
{
	static const struct {
		const char *what;
		int v6, udp, into;
	} kinds[] = {
		{"TSO4 tb_segment", 0, 0, 0},	   {"TSO4 tb_segment_into", 0, 0, 1},
		{"TSO6 tb_segment", 1, 0, 0},	   {"USO4 tb_segment", 0, 1, 0},
		{"USO4 tb_segment_into", 0, 1, 1}, {"USO6 tb_segment", 1, 1, 0},
	};
	uint8_t *pkt = malloc(65536), *out = malloc(2 * 65536);
	int n = 0;

	if (!pkt || !out)
		goto done;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && n < nr; k++, n++) {
		struct segctx s;
		memset(&s, 0, sizeof(s));
		memset(&r[n], 0, sizeof(r[n]));
		snprintf(r[n].what, sizeof(r[n].what), "%s", kinds[k].what);
		s.len = build(pkt, kinds[k].v6, kinds[k].udp, &s.vh);
		s.pkt = pkt;
		s.out = kinds[k].into ? out : NULL;
		s.out_size = 2 * 65536;
		s.reps = 16;
		r[n].segs = SEGS;
		r[n].bytes = s.len;
		measure(seg_pass, &s, (uint64_t)s.reps * SEGS, secs, runs, &r[n].ns_per_seg,
			&r[n].allocs);
		if (s.bad) {
			snprintf(r[n].why, sizeof(r[n].why), "did not give %d segments", SEGS);
			continue;
		}
		r[n].available = 1;
	}
done:
	free(pkt);
	free(out);
	return n;
}

#else

int seg_run(double secs, int runs, struct seg_result *r, int nr)
{
	if (nr < 1)
		return 0;
	memset(r, 0, sizeof(*r));
	snprintf(r->what, sizeof(r->what), "segmentation");
	snprintf(r->why, sizeof(r->why), "not available: the library has no tb_segment");
	return 1;
}

#endif
