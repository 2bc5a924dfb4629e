/* SPDX-License-Identifier: MIT */
/*
 * IPv6 extension headers and IPv4 fragments: the parser walks hop-by-hop,
 * routing, fragment, destination options and AH headers (at most 8, every
 * length checked) to the terminal protocol, so a TCP/UDP packet that carries
 * them rides its own lane verbatim and keeps its place in its flow. A chain
 * that is too long, loops, or runs past the packet leaves the protocol
 * unknown: passthrough.
 */
#include "testutil.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define CAPS (TB_CAP_TSO | TB_CAP_USO)

struct ext {
	uint8_t type;  /* 0, 43, 44, 51, 60 or anything for a raw header */
	uint8_t len;   /* the header's length byte */
	uint16_t frag; /* fragment header: offset << 3 | M */
	int16_t next;  /* next header to write instead of the chain's, -1: the chain's */
};

static size_t ext_size(const struct ext *e)
{
	if (e->type == 44)
		return 8;
	if (e->type == 51)
		return 4u * (e->len + 2u);
	return 8u * (e->len + 1u);
}

/*
 * s built with the n headers of chain between the IPv6 header and the L4
 * header. The payload length covers them; the L4 checksum stays valid (the
 * pseudo-header does not include them).
 */
static size_t with_chain(uint8_t *out, size_t cap, const struct tu_spec *s, const struct ext *chain,
			 unsigned n)
{
	static uint8_t p[70000];
	size_t len = tu_build(s, p, sizeof(p)), off = 40;

	assert_true(s->v6);
	memcpy(out, p, 40);
	out[6] = n ? chain[0].type : p[6];
	for (unsigned i = 0; i < n; i++) {
		size_t sz = ext_size(&chain[i]);
		uint8_t *e = out + off;
		assert_true(off + sz + len - 40 <= cap);
		memset(e, 0, sz);
		e[0] = chain[i].next >= 0 ? (uint8_t)chain[i].next
		       : i + 1 < n	  ? chain[i + 1].type
					  : p[6];
		e[1] = chain[i].len;
		if (chain[i].type == 44)
			tu_put16(e + 2, chain[i].frag);
		else if (chain[i].type != 51 && sz >= 8) {
			e[2] = 1; /* PadN over the rest */
			e[3] = (uint8_t)(sz - 4);
		}
		off += sz;
	}
	memcpy(out + off, p + 40, len - 40);
	tu_put16(out + 4, (uint16_t)(off + len - 80));
	return off + len - 40;
}

static struct tu_spec flow(int udp, uint16_t sport)
{
	struct tu_spec s = udp ? tu_udp6() : tu_tcp6();

	s.len = 100;
	s.sport = sport;
	return s;
}

/* Next packet of the flow. */
static void next(struct tu_spec *s)
{
	if (s->proto == 6)
		s->seq += s->len;
	s->pay_off += s->len;
}

static enum tbi_kind parse(const uint8_t *p, size_t n, struct tbi_pkt *pk)
{
	return tbi_parse(p, n, pk);
}

/* Every walked header type, alone and for both protocols: in its lane,
 * unsupported, with the header length counted. */
static void each_type(void **st)
{
	(void)st;
	static const struct ext one[] = {
		{0, 0, 0, -1},	{0, 3, 0, -1},	  {43, 0, 0, -1}, {43, 2, 0, -1},
		{44, 0, 0, -1}, {44, 0, 0x1, -1}, {51, 1, 0, -1}, {51, 4, 0, -1},
		{60, 0, 0, -1}, {60, 255, 0, -1}, {51, 0, 0, -1},
	};
	static uint8_t p[70000];

	for (int udp = 0; udp < 2; udp++) {
		for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
			struct tu_spec s = flow(udp, 1000);
			struct tbi_pkt pk;
			size_t n = with_chain(p, sizeof(p), &s, &one[i], 1);

			tu_context("%s type %u len %u", udp ? "udp" : "tcp", one[i].type,
				   one[i].len);
			assert_int_equal(parse(p, n, &pk), TBI_KIND_UNSUPPORTED);
			assert_int_equal(pk.proto, udp ? 17 : 6);
			assert_int_equal(pk.ip_len, 40 + ext_size(&one[i]));
			assert_int_equal(pk.len, n);
		}
	}
	tu_context("%s", "");
}

/* Up to 8 headers are walked; a 9th, or a chain that repeats a header
 * forever, leaves the protocol unknown. */
static void chain_limits(void **st)
{
	(void)st;
	static uint8_t p[70000];
	struct ext chain[200];
	struct tbi_pkt pk;
	struct tu_spec s = flow(0, 1000);
	size_t n;

	for (unsigned k = 0; k < 200; k++)
		chain[k] = (struct ext){(uint8_t)(k % 2 ? 60 : 43), 0, 0, -1};
	chain[0].type = 0;
	n = with_chain(p, sizeof(p), &s, chain, 8);
	assert_int_equal(parse(p, n, &pk), TBI_KIND_UNSUPPORTED);
	assert_int_equal(pk.ip_len, 40 + 8 * 8);
	n = with_chain(p, sizeof(p), &s, chain, 9);
	assert_int_equal(parse(p, n, &pk), TBI_KIND_OTHER);

	/* A loop: every header names hop-by-hop as the next, 200 of them. */
	for (unsigned k = 0; k < 200; k++)
		chain[k] = (struct ext){0, 0, 0, 0};
	n = with_chain(p, sizeof(p), &s, chain, 200);
	assert_int_equal(parse(p, n, &pk), TBI_KIND_OTHER);

	/* Eight 2 KiB headers: the longest chain walked, 16 KiB. */
	for (unsigned k = 0; k < 8; k++)
		chain[k] = (struct ext){60, 255, 0, -1};
	n = with_chain(p, sizeof(p), &s, chain, 8);
	assert_int_equal(parse(p, n, &pk), TBI_KIND_UNSUPPORTED);
	assert_int_equal(pk.ip_len, 40 + 8 * 2048);
}

/* Lengths that run past the packet, or past the IPv6 payload length even
 * with bytes behind it in the buffer, leave the protocol unknown. */
static void overruns(void **st)
{
	(void)st;
	static uint8_t p[70000];
	struct ext two[2] = {{0, 0, 0, -1}, {60, 0, 0, -1}};
	struct tu_spec s = flow(0, 1000);
	struct tbi_pkt pk;
	size_t n = with_chain(p, sizeof(p), &s, two, 2);

	/* The second header claims 8 * 201 bytes: past everything. */
	p[48 + 1] = 200;
	assert_int_equal(parse(p, n, &pk), TBI_KIND_OTHER);

	/* Cut inside the first header, then inside the second. */
	p[49] = 0;
	for (size_t cut = 40; cut < 56; cut++) {
		tu_put16(p + 4, (uint16_t)(cut - 40));
		tu_context("cut at %zu", cut);
		assert_int_equal(parse(p, cut, &pk), TBI_KIND_OTHER);
	}
	tu_context("%s", "");
	/* Cut right after the chain: the protocol is known, its header is
	 * missing: in the lane, unsupported (never merged). */
	tu_put16(p + 4, 16);
	assert_int_equal(parse(p, 56, &pk), TBI_KIND_UNSUPPORTED);
	assert_int_equal(pk.proto, 6);

	/* The payload length ends inside the chain, the buffer goes on (bytes
	 * past the IP length are not the packet's): unknown. */
	tu_put16(p + 4, 12);
	assert_int_equal(parse(p, n, &pk), TBI_KIND_OTHER);

	/* The payload length runs past the buffer but the chain fits in it: the
	 * protocol is known and the packet lies: malformed, in its lane. */
	tu_put16(p + 4, (uint16_t)(n - 40 + 1));
	assert_int_equal(parse(p, n, &pk), TBI_KIND_MALFORMED);
	assert_int_equal(pk.proto, 6);

	/* A jumbogram (payload length 0 behind hop-by-hop): malformed too. */
	tu_put16(p + 4, 0);
	assert_int_equal(parse(p, n, &pk), TBI_KIND_MALFORMED);
	assert_int_equal(pk.proto, 6);
}

/* Behind the chain, anything but TCP or UDP is passthrough; headers that
 * are not walked (ESP, no next header) end the walk. */
static void other_terminals(void **st)
{
	(void)st;
	static uint8_t p[70000];
	static const uint8_t terms[] = {58, 50, 59, 1, 4, 41, 47, 132};
	struct ext one[1] = {{0, 0, 0, -1}};
	struct tu_spec s = flow(0, 1000);
	struct tbi_pkt pk;

	for (size_t i = 0; i < sizeof(terms); i++) {
		size_t n;
		one[0].next = terms[i];
		n = with_chain(p, sizeof(p), &s, one, 1);
		tu_context("next header %u", terms[i]);
		assert_int_equal(parse(p, n, &pk), TBI_KIND_OTHER);
		assert_int_equal(pk.proto, terms[i]);
	}
	tu_context("%s", "");
}

/* IPv4 fragments of TCP and UDP (first, middle, last, DF set or not) are in
 * their lane, unsupported; so are IPv6 fragment headers, first or not. */
static void fragments(void **st)
{
	(void)st;
	static const uint16_t frag[] = {0x2000, 0x2000 | 1, 0x2000 | 185, 1, 0x1fff};
	static uint8_t p[70000];

	for (int udp = 0; udp < 2; udp++) {
		for (size_t i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
			struct tu_spec s = udp ? tu_udp4() : tu_tcp4();
			struct ext f = {44, 0, (uint16_t)(frag[i] << 3 & 0xfff8) | (frag[i] >> 13),
					-1};
			struct tu_spec s6 = flow(udp, 1000);
			struct tbi_pkt pk;
			size_t n;

			s.len = 100;
			s.df = 0;
			s.frag = frag[i];
			n = tu_build(&s, p, sizeof(p));
			tu_context("%s fragment %#x", udp ? "udp" : "tcp", frag[i]);
			assert_int_equal(parse(p, n, &pk), TBI_KIND_UNSUPPORTED);
			assert_int_equal(pk.proto, udp ? 17 : 6);
			n = with_chain(p, sizeof(p), &s6, &f, 1);
			assert_int_equal(parse(p, n, &pk), TBI_KIND_UNSUPPORTED);
			assert_int_equal(pk.proto, udp ? 17 : 6);
		}
	}
	tu_context("%s", "");
}

/*
 * Two flows of one lane interleaved; flow A's packets 4 and 9 carry
 * extension headers. They go out in A's order, between A's superpackets,
 * and seal the lane: B's chain doesn't grow across them either.
 */
static void flow_order(void **st)
{
	(void)st;
	static uint8_t p[70000];
	static const struct ext hbh[] = {{0, 0, 0, -1}};
	static const struct ext rt_dst[] = {{43, 2, 0, -1}, {60, 0, 0, -1}, {51, 1, 0, -1}};

	for (int udp = 0; udp < 2; udp++) {
		struct tu_h *h = tu_new(CAPS, NULL, 0);
		struct tu_spec a = flow(udp, 1000), b = flow(udp, 2000), i6 = tu_icmp6();
		size_t n;

		tu_context("%s", udp ? "udp" : "tcp");
		tu_add(h, &a), next(&a); /* 0 */
		tu_add(h, &b), next(&b); /* 1 */
		tu_add(h, &a), next(&a); /* 2 */
		tu_add(h, &b), next(&b); /* 3 */
		n = with_chain(p, sizeof(p), &a, hbh, 1);
		tu_add_bytes(h, p, n), next(&a); /* 4 */
		tu_add(h, &a), next(&a);	 /* 5 */
		tu_add(h, &b), next(&b);	 /* 6 */
		tu_add(h, &i6);			 /* 7 */
		tu_add(h, &a), next(&a);	 /* 8 */
		n = with_chain(p, sizeof(p), &a, rt_dst, 3);
		tu_add_bytes(h, p, n), next(&a); /* 9 */
		tu_add(h, &a), next(&a);	 /* 10 */
		tu_add(h, &a), next(&a);	 /* 11 */
		assert_int_equal(tu_flush(h), 0);
		tu_expect(h, "[0 2] [1 3] 4 [5 8] 6 9 [10 11] 7");
		tu_expect_why(h, "unsupported=2 flush=1");
		tu_free(h);
	}
	tu_context("%s", "");
}

/* The same with the flow's lane off: everything of it is passthrough, in
 * input order. */
static void lane_off(void **st)
{
	(void)st;
	static uint8_t p[70000];
	static const struct ext hbh[] = {{0, 0, 0, -1}};
	struct tb_coalescer_opts o = {.flags = TB_COALESCE_NO_TCP, .max_pkts = 0};
	struct tu_h *h = tu_new(CAPS, &o, 0);
	struct tu_spec a = flow(0, 1000), u = flow(1, 3000);
	size_t n;

	tu_add(h, &a), next(&a); /* 0 */
	tu_add(h, &u), next(&u); /* 1 */
	n = with_chain(p, sizeof(p), &a, hbh, 1);
	tu_add_bytes(h, p, n), next(&a); /* 2 */
	tu_add(h, &u), next(&u);	 /* 3 */
	tu_add(h, &a), next(&a);	 /* 4 */
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[1 3] 0 2 4");
	tu_expect_why(h, "lane_off=3 flush=1");
	tu_free(h);
}

/* Before the walk, the same packet went to passthrough and so came out
 * after its flow's later packets. Here a retransmitted segment with a
 * hop-by-hop header sits between two runs: it must come out between them. */
static void not_overtaken(void **st)
{
	(void)st;
	static uint8_t p[70000];
	static const struct ext hbh[] = {{0, 0, 0, -1}};
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec a = flow(0, 1000), r;
	size_t n;

	tu_add(h, &a), next(&a); /* 0 */
	tu_add(h, &a), next(&a); /* 1 */
	r = a;
	r.seq -= 200; /* a retransmission of packet 0 */
	r.pay_off -= 200;
	n = with_chain(p, sizeof(p), &r, hbh, 1);
	tu_add_bytes(h, p, n);	 /* 2 */
	tu_add(h, &a), next(&a); /* 3 */
	tu_add(h, &a), next(&a); /* 4 */
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "[0 1] 2 [3 4]");
	tu_free(h);
}

static uint32_t rnd_state;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/*
 * Random mixes: several TCP and UDP flows, some packets with random
 * extension-header chains (valid, too long, overrunning, cut, jumbo, with
 * other terminal protocols), lanes randomly off. The harness checks that
 * every packet comes out once, flows keep their order, packets the rules
 * call malformed or unsupported stay barriers in their lane, and every
 * superpacket is sound.
 */
static void random_mixes(void **st)
{
	(void)st;
	static uint8_t p[70000];
	static const uint8_t types[] = {0, 43, 44, 51, 60};

	for (unsigned round = 0; round < 300; round++) {
		struct tb_coalescer_opts o = {.flags = 0, .max_pkts = 0};
		struct tu_h *h;
		struct tu_spec f[6];
		unsigned npk;

		rnd_state = round * 7919u + 1;
		o.flags =
			rnd() % 4 == 0 ? (rnd() % 2 ? TB_COALESCE_NO_TCP : TB_COALESCE_NO_UDP) : 0;
		o.max_pkts = rnd() % 3 == 0 ? 8 : 0;
		h = tu_new(CAPS, &o, 0);
		tu_context("round %u", round);
		for (int k = 0; k < 6; k++) {
			f[k] = flow(k % 2, (uint16_t)(1000 + k));
			f[k].len = 50 + k * 10;
		}
		npk = 20 + rnd() % 60;
		for (unsigned i = 0; i < npk; i++) {
			struct tu_spec *s = &f[rnd() % 6];
			struct ext chain[12];
			unsigned n = 0, r = rnd() % 10;
			size_t len;

			if (r >= 4) {
				tu_add(h, s);
				next(s);
				continue;
			}
			n = 1 + rnd() % 10; /* 9 and 10: too many */
			for (unsigned k = 0; k < n; k++) {
				chain[k] =
					(struct ext){types[rnd() % 5], (uint8_t)(rnd() % 3), 0, -1};
				if (chain[k].type == 44)
					chain[k].frag =
						(uint16_t)(rnd() % 2 ? 0 : (rnd() & 0xfff8) | 1);
			}
			if (rnd() % 8 == 0)
				chain[n - 1].next = rnd() % 2 ? 58 : 59;
			len = with_chain(p, sizeof(p), s, chain, n);
			switch (rnd() % 8) {
			case 0: /* a length byte that runs past the end */
				p[40 + 1] = (uint8_t)(rnd() % 256);
				break;
			case 1: /* cut somewhere */
				len = 40 + rnd() % (len - 40);
				break;
			case 2: /* a jumbogram or a payload length that lies */
				tu_put16(p + 4,
					 (uint16_t)(rnd() % 2 ? 0 : len - 40 + 1 + rnd() % 100));
				break;
			default:
				break;
			}
			tu_add_bytes(h, p, len);
			next(s);
		}
		assert_int_equal(tu_flush(h), 0);
		tu_free(h);
	}
	tu_context("%s", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_type),	cmocka_unit_test(chain_limits),
		cmocka_unit_test(overruns),	cmocka_unit_test(other_terminals),
		cmocka_unit_test(fragments),	cmocka_unit_test(flow_order),
		cmocka_unit_test(lane_off),	cmocka_unit_test(not_overtaken),
		cmocka_unit_test(random_mixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
