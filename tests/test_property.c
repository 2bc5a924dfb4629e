/* SPDX-License-Identifier: MIT */
/*
 * Property: whatever mix of packets is committed (several flows, IPv4 and
 * IPv6, TCP, UDP and ICMP, losses, reordering, retransmissions, PSH, short
 * and larger segments, header changes, odd flags, malformed packets, IP
 * options, fragments, IPv6 extension headers, random batch sizes, lanes off,
 * small lanes, small arenas, rejected superpackets),
 * cutting every superpacket back with the reference segmenter gives exactly
 * the committed packets, each once, per flow in order (tu_flush checks).
 *
 * Deterministic: TB_PROP_SEED and TB_PROP_ITERS override the defaults.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(next() % n) : 0;
}

/* True with probability pct percent. */
static int chance(unsigned pct)
{
	return below(1000) < pct * 10;
}

struct flow {
	struct tu_spec s;
	uint32_t mss;
	uint32_t tsval;
};

struct gen {
	struct flow f[6];
	unsigned nflows;
	int verify;
};

static void new_flow(struct flow *f, unsigned i)
{
	unsigned kind = below(100);
	int v6 = (int)below(2);

	if (kind < 55)
		f->s = v6 ? tu_tcp6() : tu_tcp4();
	else if (kind < 88)
		f->s = v6 ? tu_udp6() : tu_udp4();
	else
		f->s = v6 ? tu_icmp6() : tu_icmp4();
	f->s.sport = (uint16_t)(1000 + i);
	f->s.dport = (uint16_t)(2000 + below(3));
	f->s.src[v6 ? 14 : 2] = (uint8_t)below(3);
	f->s.seq = (uint32_t)next();
	f->s.ack = (uint32_t)next();
	f->s.id = (uint16_t)next();
	f->s.df = !chance(25);
	f->s.tos = chance(20) ? (uint8_t)below(256) : 0;
	f->s.flow = chance(30) ? below(1u << 20) : 0;
	f->s.ttl = (uint8_t)(1 + below(255));
	f->s.win = (uint16_t)next();
	f->s.pay_off = (uint32_t)next();
	f->mss = chance(15) ? 1 + below(40) : 200 + below(1201);
	f->tsval = (uint32_t)next();
	if (f->s.proto == 6 && chance(70))
		tu_set_ts(&f->s, f->tsval, 7);
}

/* One packet of flow f into buf; returns its length. */
static size_t make(struct gen *g, struct flow *f, uint8_t *buf, size_t cap)
{
	struct tu_spec *s = &f->s, x;
	unsigned ev = below(1000);
	size_t n;

	s->id = (uint16_t)(s->id + 1 + (!s->df && chance(2) ? below(3) : 0));
	s->len = f->mss;
	x = *s;
	x.flags = TU_ACK;
	if (s->proto == 6) {
		if (ev < 50) {
			x.len = 1 + below(f->mss);
		} else if (ev < 110) {
			x.flags |= TU_PSH;
		} else if (ev < 170) {
			x.len = 0; /* pure ACK, maybe acknowledging more */
			if (chance(50))
				s->ack += below(5000);
			x.ack = s->ack;
		} else if (ev < 190) {
			s->seq += f->mss * (1 + below(3)); /* lost segments */
			s->pay_off += f->mss;
			x.seq = s->seq;
		} else if (ev < 210) {
			x.seq = s->seq - f->mss * below(4); /* retransmission */
		} else if (ev < 230) {
			if (s->optlen)
				tu_set_ts(s, ++f->tsval, 7);
			x = *s;
		} else if (ev < 240) {
			s->win = (uint16_t)(s->win + 1);
			x.win = s->win;
		} else if (ev < 250) {
			s->ack += 1;
			x.ack = s->ack;
		} else if (ev < 265) {
			static const uint8_t odd[] = {TU_FIN, TU_SYN, TU_RST, TU_URG, TU_CWR, 0};
			x.flags = (uint8_t)(odd[below(6)] | (chance(80) ? TU_ACK : 0));
			if (x.flags & TU_URG)
				x.urg = (uint16_t)below(100);
			if (chance(50))
				x.len = 0;
		} else if (ev < 280) {
			s->flags ^= TU_ECE;
		} else if (ev < 290) {
			x.len = f->mss + 1 + below(100);
		} else if (ev < 295) {
			x.urg = 1; /* without URG */
		} else if (ev < 300) {
			x.tcp_res = 1;
		}
		x.flags |= (uint8_t)(s->flags & TU_ECE);
		s->seq = x.seq + x.len;
		s->pay_off = x.pay_off + x.len;
	} else if (s->proto == 17) {
		if (ev < 60)
			x.len = below(f->mss); /* shorter, or empty */
		else if (ev < 90)
			x.len = f->mss + 1 + below(50);
		else if (ev < 110)
			x.udp_nocsum = 1;
		s->pay_off += x.len;
	} else {
		x.len = below(200);
		s->pay_off += x.len;
	}
	/* Header changes every protocol can see. */
	ev = below(1000);
	if (ev < 15)
		s->tos = (uint8_t)(s->tos ^ (1u << below(8))), x.tos = s->tos;
	else if (ev < 25)
		s->ttl = (uint8_t)(s->ttl - 1), x.ttl = s->ttl;
	else if (ev < 30 && s->v6)
		s->flow = below(1u << 20), x.flow = s->flow;
	else if (ev < 35 && !s->v6)
		s->df = !s->df, x.df = s->df;
	else if (ev < 45 && !s->v6)
		x.ipopt_len = (uint8_t)(4 * (1 + below(3)));
	else if (ev < 55 && !s->v6)
		x.frag = (uint16_t)(chance(50) ? 0x2000 : below(0x2000));
	else if (ev < 65 && g->verify)
		x.bad_csum = 1;
	else if (ev < 70 && g->verify && !s->v6)
		x.bad_ipcsum = 1;
	n = tu_build(&x, buf, cap);
	/* Malformed on the wire. */
	ev = below(1000);
	if (ev < 15) {
		n = below((uint32_t)n); /* cut: lengths lie */
	} else if (ev < 30) {
		size_t extra = 1 + below(16);
		for (size_t i = 0; i < extra; i++)
			buf[n + i] = (uint8_t)next();
		n += extra; /* trailing bytes: trimmed */
	} else if (ev < 40 && x.proto == 6) {
		size_t off = (x.v6 ? 40u : 20u + x.ipopt_len) + 12;
		buf[off] = (uint8_t)(below(16) << 4); /* data offset */
		tu_fix_csums(buf, n);
	} else if (ev < 45) {
		buf[below((uint32_t)(n < 60 ? n : 60))] ^= (uint8_t)(1u << below(8));
		if (!g->verify)
			tu_fix_csums(buf, n);
	} else if (ev < 55 && x.v6 && n >= 40) {
		/* A destination options header in front of the L4 header. */
		memmove(buf + 48, buf + 40, n - 40);
		memset(buf + 40, 0, 8);
		buf[40] = buf[6];
		buf[42] = 1; /* PadN */
		buf[43] = 4;
		buf[6] = 60;
		tu_put16(buf + 4, (uint16_t)(tu_get16(buf + 4) + 8));
		n += 8;
	}
	return n;
}

static unsigned long long total_pkts, total_writes, total_sp, total_fallbacks;

static void run_iteration(uint64_t seed, unsigned it)
{
	struct gen g;
	struct tb_coalescer_opts o = {.flags = 0, .max_pkts = 0};
	unsigned caps = TB_CAP_TSO | TB_CAP_USO, nbatch;
	size_t arena;
	struct tu_h *h;
	static uint8_t bufs[160][2048];
	static size_t lens[160];

	memset(&g, 0, sizeof(g));
	if (chance(10))
		caps &= ~(unsigned)(chance(50) ? TB_CAP_TSO : TB_CAP_USO);
	if (chance(5))
		o.flags |= chance(50) ? TB_COALESCE_NO_TCP : TB_COALESCE_NO_UDP;
	if (chance(25))
		o.flags |= TB_COALESCE_VERIFY_CSUM;
	g.verify = (o.flags & TB_COALESCE_VERIFY_CSUM) != 0;
	/* Small lanes now and then; else room for a batch (a cheap create). */
	o.max_pkts = chance(15) ? 1 + below(8) : 256;
	arena = chance(30) ? 1024 + below(16384) : 131072;
	h = tu_new(caps, &o, arena);
	g.nflows = 1 + below(6);
	for (unsigned i = 0; i < g.nflows; i++)
		new_flow(&g.f[i], i);
	nbatch = 1 + below(4);
	for (unsigned b = 0; b < nbatch; b++) {
		unsigned n = chance(20) ? 1 + below(8) : 1 + below(160), cur = below(g.nflows);
		struct tb_stats st;

		tu_context("seed %llu iteration %u batch %u", (unsigned long long)seed, it, b);
		for (unsigned i = 0; i < n; i++) {
			if (!chance(70))
				cur = below(g.nflows);
			lens[i] = make(&g, &g.f[cur], bufs[i], sizeof(bufs[i]) - 16);
		}
		/* Reordering: adjacent swaps. */
		for (unsigned i = 0; i + 1 < n; i++) {
			if (chance(3)) {
				uint8_t tmp[2048];
				size_t l = lens[i];
				memcpy(tmp, bufs[i], sizeof(tmp));
				memcpy(bufs[i], bufs[i + 1], sizeof(tmp));
				memcpy(bufs[i + 1], tmp, sizeof(tmp));
				lens[i] = lens[i + 1];
				lens[i + 1] = l;
			}
		}
		for (unsigned i = 0; i < n; i++)
			tu_add_bytes(h, bufs[i], lens[i]);
		if (chance(10))
			tbi_capture_fail(h->cap, 1 + below(3), -EINVAL, 1); /* only superpackets */
		if (tu_flush(h))
			tu_fail("flush failed though only superpackets were rejected");
		tu_batch_stats(h, &st);
		total_pkts += st.pkts_in;
		total_writes += st.writes;
		total_sp += st.superpackets;
		total_fallbacks += st.fallbacks;
	}
	tu_free(h);
}

static void property(void **state)
{
	(void)state;
	const char *e = getenv("TB_PROP_SEED");
	uint64_t seed = e ? strtoull(e, NULL, 0) : 0x7b5eedull;
	unsigned iters = getenv("TB_PROP_ITERS") ? (unsigned)atoi(getenv("TB_PROP_ITERS")) : 2000;

	for (unsigned it = 0; it < iters; it++) {
		/* Every iteration has its own seed: a failure replays alone. */
		rng = seed + it * 0x1000193ull;
		run_iteration(seed, it);
	}
	tu_context("%s", "");
	printf("property: seed %llu, %u iterations: %llu packets, %llu writes, %llu superpackets, "
	       "%llu fallbacks\n",
	       (unsigned long long)seed, iters, total_pkts, total_writes, total_sp,
	       total_fallbacks);
	/* The mix must really exercise merging. */
	assert_true(total_sp > iters / 2);
	assert_true(total_writes < total_pkts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(property),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
