/* SPDX-License-Identifier: MIT */
/* Traces: classic pcap files and the synthetic shapes the benchmark makes. */
#include "bench.h"
#include "pcap_in.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every packet starts on a cache line, as a decrypted packet in an arena would. */
#define PKT_ALIGN 64
#define MAX_PKT	  65535

static size_t align_up(size_t v)
{
	return (v + PKT_ALIGN - 1) & ~(size_t)(PKT_ALIGN - 1);
}

/* Traces are read with the CLI's capture reader (tools/pcap_in.c): every
 * link type it knows, and its words for a file it can't read. Two passes:
 * size the packet area, then copy into it. */
int trace_load_pcap(const char *path, struct trace *t, char *err, size_t errlen)
{
	char why[256] = "no IP packet in it";
	size_t total = 0;
	uint32_t n = 0;
	const char *base;

	memset(t, 0, sizeof(*t));
	for (int pass = 0; pass < 2; pass++) {
		struct pcap_in *in = pcap_in_open(path, why, sizeof(why));
		const uint8_t *pkt;
		size_t len, at = 0;
		int rc;

		if (!in)
			goto bad;
		n = 0;
		while ((rc = pcap_in_next(in, &pkt, &len, why, sizeof(why))) == 1) {
			if (len < 1 || len > MAX_PKT)
				continue;
			if (pass == 1) {
				memcpy(t->mem + at, pkt, len);
				t->pkts[n].data = t->mem + at;
				t->pkts[n].len = (uint32_t)len;
				t->bytes += len;
			}
			at += align_up(len);
			n++;
		}
		pcap_in_close(in);
		if (rc < 0 || !n)
			goto bad;
		if (pass == 0) {
			total = at;
			t->mem = aligned_alloc(PKT_ALIGN, align_up(total));
			t->pkts = calloc(n, sizeof(*t->pkts));
			if (!t->mem || !t->pkts) {
				snprintf(why, sizeof(why), "%s", strerror(ENOMEM));
				goto bad;
			}
		}
	}
	t->n = n;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(t->name, sizeof(t->name), "%.*s", (int)(strcspn(base, ".")), base);
	snprintf(t->origin, sizeof(t->origin), "file");
	trace_classify(t);
	return 0;
bad:
	snprintf(err, errlen, "%s: %s", path, why);
	trace_free(t);
	return -EINVAL;
}

void trace_free(struct trace *t)
{
	free(t->mem);
	free(t->pkts);
	t->mem = NULL;
	t->pkts = NULL;
	t->n = 0;
}

void trace_classify(struct trace *t)
{
	t->all_tcp4 = t->n > 0;
	for (uint32_t i = 0; i < t->n; i++) {
		const uint8_t *p = t->pkts[i].data;
		if (t->pkts[i].len < 40 || p[0] != 0x45 || p[9] != 6) {
			t->all_tcp4 = 0;
			break;
		}
	}
}

/* ---- synthetic traces ---------------------------------------------------- */

#define SYN_PKTS 6400 /* 100 full batches */

/* A plain RFC 1071 sum, independent of the library's. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
	for (; len > 1; p += 2, len -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

struct flowgen {
	int v6;
	int udp;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint16_t ip_id;
};

/* Writes one packet at out; returns its length. payload 0 makes a pure ACK. */
static uint32_t make_pkt(uint8_t *out, struct flowgen *g, uint32_t payload, uint32_t tsval)
{
	uint32_t iph = g->v6 ? 40 : 20, l4h = g->udp ? 8 : 32;
	uint32_t len = iph + l4h + payload;
	uint8_t *l4 = out + iph;
	uint32_t s;
	uint16_t cs;

	memset(out, 0, iph + l4h);
	if (g->v6) {
		out[0] = 0x60;
		put16(out + 4, len - 40);
		out[6] = g->udp ? 17 : 6;
		out[7] = 64;
		out[8] = 0xfd, out[9] = 0x77, out[23] = 1; /* fd77::1 */
		out[24] = 0xfd, out[25] = 0x77, out[39] = 2;
	} else {
		out[0] = 0x45;
		put16(out + 2, len);
		put16(out + 4, g->ip_id++);
		out[6] = 0x40; /* DF */
		out[8] = 64;
		out[9] = g->udp ? 17 : 6;
		out[12] = 10, out[13] = 77, out[15] = 1;
		out[16] = 10, out[17] = 77, out[19] = 2;
		put16(out + 10, (uint16_t)~fold(sum16(out, 20, 0)));
	}
	put16(l4, g->sport);
	put16(l4 + 2, g->dport);
	for (uint32_t i = 0; i < payload; i++)
		l4[l4h + i] = (uint8_t)('0' + (g->seq + i) % 10);
	if (g->udp) {
		put16(l4 + 4, l4h + payload);
	} else {
		put32(l4 + 4, g->seq);
		put32(l4 + 8, g->ack);
		l4[12] = 0x80; /* 32-byte header: timestamps */
		l4[13] = 0x10; /* ACK */
		put16(l4 + 14, 502);
		l4[20] = 1, l4[21] = 1, l4[22] = 8, l4[23] = 10;
		put32(l4 + 24, tsval);
		put32(l4 + 28, 0x1000);
		g->seq += payload;
	}
	/* pseudo-header, then the L4 header and payload */
	s = g->v6 ? sum16(out + 8, 32, 0) : sum16(out + 12, 8, 0);
	s += (g->udp ? 17u : 6u) + l4h + payload;
	s = sum16(l4, l4h + payload, s);
	cs = (uint16_t)~fold(s);
	put16(l4 + (g->udp ? 6 : 16), cs ? cs : 0xffff); /* 0 would mean "no checksum" in UDP */
	return len;
}

static const char *const synth_names[] = {
	"syn_tcp4_1flow", "syn_tcp4_64rr",  "syn_tcp4_8x8",  "syn_tcp4_acks80",
	"syn_udp4_1flow", "syn_tcp6_1flow", "syn_tcp4_mix4", "syn_udp4_dns",
};

int trace_synth(int which, struct trace *t)
{
	enum { NFLOWS = 64 };
	struct flowgen g[NFLOWS];
	size_t at = 0;

	if (which < 0 || which >= (int)(sizeof(synth_names) / sizeof(synth_names[0])))
		return -1;
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", synth_names[which]);
	snprintf(t->origin, sizeof(t->origin), "synthetic");
	t->mem = aligned_alloc(PKT_ALIGN, (size_t)SYN_PKTS * align_up(1500));
	t->pkts = calloc(SYN_PKTS, sizeof(*t->pkts));
	if (!t->mem || !t->pkts) {
		trace_free(t);
		return -1;
	}
	for (int f = 0; f < NFLOWS; f++) {
		g[f] = (struct flowgen){.sport = (uint16_t)(40000 + f),
					.dport = 5201,
					.seq = 1000000u * (uint32_t)(f + 1),
					.ack = 77777u,
					.ip_id = (uint16_t)(f * 1000)};
		g[f].v6 = which == 5;
		g[f].udp = which == 4 || which == 7;
	}
	for (uint32_t i = 0; i < SYN_PKTS; i++) {
		uint8_t *out = t->mem + at;
		uint32_t tsval = 5000 + i / 192; /* a 1 ms clock at ~200 kpps */
		uint32_t len;
		switch (which) {
		case 0:
			len = make_pkt(out, &g[0], 1368, tsval);
			break;
		case 1:
			len = make_pkt(out, &g[i % 64], 1368, tsval);
			break;
		case 2:
			len = make_pkt(out, &g[(i / 8) % 8], 1368, tsval);
			break;
		case 3:
			/* One data segment, then four ACKs of the reverse connection. */
			if (i % 5 == 0) {
				len = make_pkt(out, &g[0], 1368, tsval);
			} else {
				g[1].ack += 2736;
				len = make_pkt(out, &g[1], 0, tsval);
			}
			break;
		case 4:
			len = make_pkt(out, &g[0], 1372, 0);
			break;
		case 6:
			/* A tunnel's receive burst: one bulk flow's data, and every
			 * third packet an ACK of one of four flows going the other way. */
			if (i % 3 == 2) {
				struct flowgen *r = &g[1 + (i / 3) % 4];
				r->ack += 2736;
				len = make_pkt(out, r, 0, tsval);
			} else {
				len = make_pkt(out, &g[0], 1368, tsval);
			}
			break;
		case 7: {
			/* DNS-sized datagrams of 64 flows in no order, 40 to 119 bytes. */
			uint64_t r = (i + 1) * 0x9e3779b97f4a7c15ull;
			r ^= r >> 29;
			len = make_pkt(out, &g[r % 64], 40 + (uint32_t)(r >> 8) % 80, 0);
			break;
		}
		default:
			len = make_pkt(out, &g[0], 1348, tsval);
			break;
		}
		t->pkts[i].data = out;
		t->pkts[i].len = len;
		t->bytes += len;
		at += align_up(len);
	}
	t->n = SYN_PKTS;
	trace_classify(t);
	return 0;
}
