/* SPDX-License-Identifier: MIT */
/*
 * The TCP lane's rules, each on both sides and for IPv4 and IPv6. Every test
 * asserts which committed packets each write carries (tu_expect), why chains
 * were sealed (tu_expect_why), and, through tu_flush, that cutting every
 * superpacket back gives the committed bytes in flow order.
 */
#include "testutil.h"

#include <string.h>

static struct tu_spec tcp(int v6)
{
	struct tu_spec s = tu_tcp(v6);

	s.len = 1000;
	tu_set_ts(&s, 12345, 678);
	return s;
}

static void merge_basic(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6);
	struct tb_vnet_hdr v;
	struct tb_stats st;
	size_t len, hl = tu_iphl(v6) + 32;
	const uint8_t *r;
	uint8_t seed[2048];

	tu_build(&s, seed, sizeof(seed));
	for (int i = 0; i < 3; i++)
		tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2]", "flush=1");

	r = tu_rec(h, 0, &len, &v);
	assert_int_equal(len, hl + 3000);
	assert_int_equal(v.flags, TB_VNET_F_NEEDS_CSUM);
	assert_int_equal(v.gso_type, v6 ? TB_GSO_TCPV6 : TB_GSO_TCPV4);
	assert_int_equal(v.gso_size, 1000);
	assert_int_equal(v.hdr_len, hl);
	assert_int_equal(v.csum_start, tu_iphl(v6));
	assert_int_equal(v.csum_offset, 16);
	/* Headers: the seed's with lengths, IPv4 checksum and the TCP checksum
	 * field (pseudo-header sum) patched; payloads back to back. */
	if (v6) {
		assert_int_equal(tu_get16(r + 4), len - 40);
		assert_memory_equal(r, seed, 4);
		assert_memory_equal(r + 6, seed + 6, 34 + 16);
	} else {
		assert_int_equal(tu_get16(r + 2), len);
		assert_int_equal(tu_fold(tu_sum(r, 20, 0)), 0xffff);
		assert_memory_equal(r, seed, 2);
		assert_memory_equal(r + 4, seed + 4, 6);
		assert_memory_equal(r + 12, seed + 12, 8 + 16);
	}
	assert_memory_equal(r + hl - 16 + 2, seed + hl - 16 + 2, 14); /* urg ptr + options */
	assert_int_equal(tu_get16(r + tu_iphl(v6) + 16),
			 tu_fold(tu_pseudo(r, 6, (uint32_t)(len - tu_iphl(v6)))));
	for (uint32_t i = 0; i < 3000; i++)
		if (r[hl + i] != tu_pay_byte(i))
			fail_msg("payload byte %u", i);

	tu_batch_stats(h, &st);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.superpackets, 1);
	assert_int_equal(st.segments, 3);
	assert_int_equal(st.lane_pkts[TB_LANE_TCP], 3);
	assert_int_equal(st.bytes_out, len);
	tu_free(h);
}
TU_BOTH(merge_basic)

/* A chain of one is the original packet with a plain virtio header. */
static void single_plain(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6);
	struct tb_vnet_hdr v;
	uint8_t want[2048];
	size_t len, n = tu_build(&s, want, sizeof(want));
	const uint8_t *r;

	tu_add_next(h, &s);
	tu_flush_expect(h, "0", NULL);
	r = tu_rec(h, 0, &len, &v);
	assert_int_equal(len, n);
	assert_memory_equal(r, want, n);
	assert_int_equal(v.flags, 0);
	assert_int_equal(v.gso_type, TB_GSO_NONE);
	tu_free(h);
}
TU_BOTH(single_plain)

static void interleaved(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec a = tcp(v6), b = tcp(v6), c = tcp(v6), d = tcp(v6);

	b.sport = 1001;		/* another port */
	c.dst[v6 ? 15 : 3] = 3; /* another address */
	d.sport = a.dport;	/* the reverse direction */
	d.dport = a.sport;
	memcpy(d.src, a.dst, 16);
	memcpy(d.dst, a.src, 16);
	for (int i = 0; i < 3; i++) {
		tu_add_next(h, &a);
		tu_add_next(h, &b);
	}
	tu_add_next(h, &c);
	tu_add_next(h, &d);
	tu_add_next(h, &a);
	tu_add_next(h, &c);
	tu_add_next(h, &d);
	tu_flush_expect(h, "[0 2 4 8] [1 3 5] [6 9] [7 10]", "flush=4");
	tu_free(h);
}
TU_BOTH(interleaved)

static void psh(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6);
	unsigned t = tu_iphl(v6) + 13;
	const uint8_t *r;

	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.flags |= TU_PSH;
	tu_add_next(h, &s);
	s.flags &= (uint8_t)~TU_PSH;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	/* PSH is carried into the superpacket and closes it. */
	tu_flush_expect(h, "[0 1 2] [3 4]", "psh=1 flush=1");
	r = tu_rec(h, 0, NULL, NULL);
	assert_int_equal(r[t], TU_ACK | TU_PSH);
	r = tu_rec(h, 1, NULL, NULL);
	assert_int_equal(r[t], TU_ACK);

	/* PSH on the seed: a chain of one. */
	s.flags |= TU_PSH;
	tu_add_next(h, &s);
	s.flags &= (uint8_t)~TU_PSH;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "0 [1 2]", "psh=1 flush=1");

	/* PSH on a short last segment: carried, the chain ends as short. */
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.flags |= TU_PSH;
	s.len = 300;
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2]", "short=1");
	r = tu_rec(h, 0, NULL, NULL);
	assert_int_equal(r[t], TU_ACK | TU_PSH);
	tu_free(h);
}
TU_BOTH(psh)

static void short_and_large(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6);
	struct tb_vnet_hdr v;
	size_t len;

	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.len = 500;
	tu_add_next(h, &s);
	s.len = 1000;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2] [3 4]", "short=1 flush=1");
	tu_rec(h, 0, &len, &v);
	assert_int_equal(v.gso_size, 1000);
	assert_int_equal(len, v.hdr_len + 2500);

	/* A larger payload than the seed's can't join: it seeds a new chain. */
	s.len = 500;
	tu_add_next(h, &s);
	s.len = 1000;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.len = 1001;
	tu_add_next(h, &s);
	tu_flush_expect(h, "0 [1 2] 3", "size=2 flush=1");
	tu_free(h);
}
TU_BOTH(short_and_large)

static void sequence(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6);
	const uint8_t *r;

	/* Wrap-around: the next expected sequence is computed mod 2^32. */
	s.seq = 0xffffffffu - 1499;
	for (int i = 0; i < 4; i++)
		tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2 3]", NULL);
	r = tu_rec(h, 0, NULL, NULL);
	assert_int_equal(tu_get32(r + tu_iphl(v6) + 4), 0xffffffffu - 1499);

	/* A gap, then a retransmission: neither may join. */
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.seq += 1;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.seq -= 3000;
	s.pay_off -= 3000;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1] [2 3] [4 5]", "seq=2 flush=1");
	tu_free(h);
}
TU_BOTH(sequence)

static void seg_cap(int v6)
{
	tu_check_seg_cap(tcp(v6));
}
TU_BOTH(seg_cap)

static void byte_cap(int v6)
{
	/* Headers 40 (IPv4) or 60 (IPv6): payloads that fill 65535 exactly. */
	tu_check_byte_cap(tu_tcp(v6), v6 ? 25 : 5, v6 ? 2619 : 13099);
}
TU_BOTH(byte_cap)

static void tos(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6);
	const uint8_t *r;

	s.tos = 0x02; /* ECT(0) */
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.tos = 0x01; /* ECT(1): merging would let a CE mark appear */
	tu_add_next(h, &s);
	s.tos = 0x03; /* CE */
	tu_add_next(h, &s);
	s.tos = 0xb9; /* DSCP EF, ECT(1) */
	tu_add_next(h, &s);
	s.tos = 0xb8; /* DSCP EF, not ECT */
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.tos = 0x00; /* DSCP back to 0 */
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1] 2 3 4 [5 6] 7", "tos=5 flush=1");
	r = tu_rec(h, 0, NULL, NULL);
	assert_int_equal(v6 ? (r[0] << 4 | r[1] >> 4) & 0xff : r[1], 0x02);
	r = tu_rec(h, 4, NULL, NULL);
	assert_int_equal(v6 ? (r[0] << 4 | r[1] >> 4) & 0xff : r[1], 0xb8);
	tu_free(h);
}
TU_BOTH(tos)

static void flags_seal_own_flow(int v6)
{
	static const uint8_t bad[] = {TU_FIN, TU_SYN, TU_RST, TU_URG, TU_CWR, 0};

	for (size_t f = 0; f < sizeof(bad); f++) {
		struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
		struct tu_spec a = tcp(v6), b = tcp(v6);

		tu_context("flags 0x%02x", bad[f]);
		b.sport = 7;
		tu_add_next(h, &a); /* 0 */
		tu_add_next(h, &b); /* 1 */
		tu_add_next(h, &a); /* 2 */
		/* ACK cleared too for the last case: a segment without ACK */
		a.flags = bad[f] ? (uint8_t)(TU_ACK | bad[f]) : 0;
		if (bad[f] == TU_URG)
			a.urg = 10;
		tu_add_next(h, &a); /* 3: verbatim, seals a's chain only */
		a.flags = TU_ACK;
		a.urg = 0;
		tu_add_next(h, &b); /* 4 */
		tu_add_next(h, &a); /* 5 */
		tu_add_next(h, &a); /* 6 */
		tu_flush_expect(h, "[0 2] [1 4] 3 [5 6]", "flags=1 flush=2");
		tu_free(h);
	}
	tu_context("%s", "");
}
TU_BOTH(flags_seal_own_flow)

static void ece(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6);
	const uint8_t *r;

	s.flags = TU_ACK | TU_ECE;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.flags = TU_ACK;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.flags = TU_ACK | TU_ECE;
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1] [2 3] 4", "ece=2 flush=1");
	r = tu_rec(h, 0, NULL, NULL);
	assert_int_equal(r[tu_iphl(v6) + 13], TU_ACK | TU_ECE);
	tu_free(h);
}
TU_BOTH(ece)

/* IPv4 IDs: with DF clear the kernel re-stamps seed + i, so only that run
 * may merge; with DF set any IDs merge (the receiver ignores them). */
static void ip_id(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(0);
	const uint8_t *r;

	s.df = 0;
	s.id = 0xfffe; /* wraps too */
	for (int i = 0; i < 4; i++)
		tu_add_next(h, &s);
	s.id += 5;
	tu_add_next(h, &s);
	tu_add_next(h, &s);
	s.id -= 1; /* a repeated ID */
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2 3] [4 5] 6", "ip_id=2 flush=1");

	s.df = 1;
	s.id = 7;
	tu_add_next(h, &s);
	s.id = 9000;
	tu_add_next(h, &s);
	s.id = 3;
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 1 2]", "flush=1");
	r = tu_rec(h, 0, NULL, NULL);
	assert_int_equal(tu_get16(r + 4), 7);

	/* DF differs: another header. */
	tu_add_next(h, &s);
	s.df = 0;
	tu_add_next(h, &s);
	tu_flush_expect(h, "0 1", "hdr=1 flush=1");
	tu_free(h);
}

static void pure_ack(int v6)
{
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tcp(v6), ack = tcp(v6);
	struct tb_stats st;

	ack.len = 0;
	tu_add_next(h, &s); /* 0 */
	tu_add_next(h, &s); /* 1 */
	ack.ack = 5001;
	ack.seq = s.seq;
	tu_add(h, &ack);    /* 2: same flow, a pure ACK: verbatim, no seal */
	tu_add_next(h, &s); /* 3 */
	ack.ack = 5002;
	ack.flags = TU_ACK | TU_ECE;
	tu_add(h, &ack); /* 4 */
	ack.ack = 5003;
	ack.flags = TU_ACK | TU_PSH;
	tu_add(h, &ack);    /* 5 */
	tu_add_next(h, &s); /* 6 */
	tu_flush_expect(h, "[0 1 3 6] 2 4 5", "flush=1");
	tu_batch_stats(h, &st);
	assert_int_equal(st.pure_acks, 3);

	/* An ACK of the reverse flow between data segments. */
	ack = tcp(v6);
	ack.len = 0;
	ack.sport = s.dport;
	ack.dport = s.sport;
	memcpy(ack.src, s.dst, 16);
	memcpy(ack.dst, s.src, 16);
	tu_add_next(h, &s);
	tu_add(h, &ack);
	tu_add_next(h, &s);
	ack.ack += 1000;
	tu_add(h, &ack);
	tu_add_next(h, &s);
	tu_flush_expect(h, "[0 2 4] 1 3", "flush=1");

	/* Not pure ACKs: a FIN without data seals. */
	tu_add_next(h, &s);
	ack = s;
	ack.len = 0;
	ack.flags = TU_ACK | TU_FIN;
	tu_add(h, &ack);
	tu_add_next(h, &s);
	tu_flush_expect(h, "0 1 2", "flags=1 flush=1");
	tu_free(h);
}
TU_BOTH(pure_ack)

/* Every other header field must be identical to join. */
static void header_fields(int v6)
{
	enum { ACKNO, WIN, TSVAL, OPTLEN, TTL, FLOW, RES, URGPTR, NFIELDS };

	for (int f = 0; f < NFIELDS; f++) {
		struct tu_h *h;
		struct tu_spec s = tcp(v6);

		if (f == FLOW && !v6)
			continue;
		h = tu_new(TU_CAPS, NULL, 0);
		tu_context("field %d", f);
		tu_add_next(h, &s);
		tu_add_next(h, &s);
		switch (f) {
		case ACKNO:
			s.ack++;
			break;
		case WIN:
			s.win++;
			break;
		case TSVAL:
			tu_set_ts(&s, 12346, 678);
			break;
		case OPTLEN:
			s.opts[12] = s.opts[13] = s.opts[14] = s.opts[15] = 1;
			s.optlen = 16;
			break;
		case TTL:
			s.ttl--;
			break;
		case FLOW:
			s.flow = 0x12345;
			break;
		case RES:
			s.tcp_res = 1;
			break;
		case URGPTR: /* meaningless without URG, but the kernel keeps it */
			s.urg = 1;
			break;
		}
		tu_add_next(h, &s);
		tu_add_next(h, &s);
		tu_flush_expect(h, "[0 1] [2 3]", "hdr=1 flush=1");
		tu_free(h);
	}
	tu_context("%s", "");
}
TU_BOTH(header_fields)

/* Hundreds of flows at once: the flow table probes past collisions and the
 * last-slot cache misses every time, yet each flow gets its own chain. */
static void many_flows(int v6)
{
	struct tb_coalescer_opts o = {.flags = 0, .max_pkts = 1024};
	struct tu_h *h = tu_new(TU_CAPS, &o, 0);
	struct tu_spec f[300];
	static char want[300 * 20];
	size_t k = 0;

	for (int i = 0; i < 300; i++) {
		f[i] = tcp(v6);
		f[i].len = 10;
		f[i].sport = (uint16_t)(i % 100);
		f[i].src[v6 ? 13 : 1] = (uint8_t)(i / 100);
		k += (size_t)snprintf(want + k, sizeof(want) - k, "[%d %d %d] ", i, i + 300,
				      i + 600);
	}
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < 300; i++)
			tu_add_next(h, &f[i]);
	tu_flush_expect(h, want, "flush=300");
	tu_free(h);
}
TU_BOTH(many_flows)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TU_BOTH_TESTS(merge_basic),
		TU_BOTH_TESTS(single_plain),
		TU_BOTH_TESTS(interleaved),
		TU_BOTH_TESTS(psh),
		TU_BOTH_TESTS(short_and_large),
		TU_BOTH_TESTS(sequence),
		TU_BOTH_TESTS(seg_cap),
		TU_BOTH_TESTS(byte_cap),
		TU_BOTH_TESTS(tos),
		TU_BOTH_TESTS(flags_seal_own_flow),
		TU_BOTH_TESTS(ece),
		cmocka_unit_test(ip_id),
		TU_BOTH_TESTS(pure_ack),
		TU_BOTH_TESTS(header_fields),
		TU_BOTH_TESTS(many_flows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
