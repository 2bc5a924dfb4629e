/* SPDX-License-Identifier: MIT */
/*
 * Checksum verification (TB_COALESCE_VERIFY_CSUM), beyond the both-ways
 * cases of test_dispatch: a corrupted bit anywhere in the TCP/UDP bytes is
 * caught and the packet goes out verbatim, byte for byte, so the kernel
 * drops it; only its own flow is sealed; both encodings of a zero TCP
 * checksum pass; checksum-less UDP; and a trace with corrupted packets,
 * where verification keeps every corrupted packet out of the superpackets
 * and, off, the same packets are merged and come out with fresh checksums.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define CAPS (TB_CAP_TSO | TB_CAP_USO)

static const struct tb_coalescer_opts verify = {.flags = TB_COALESCE_VERIFY_CSUM, .max_pkts = 0};

static struct tu_spec flow(int kind, uint32_t len)
{
	static struct tu_spec (*const mk[4])(void) = {tu_tcp4, tu_tcp6, tu_udp4, tu_udp6};
	struct tu_spec s = mk[kind]();

	s.len = len;
	return s;
}

static void add(struct tu_h *h, struct tu_spec *s)
{
	tu_add(h, s);
	if (s->proto == 6)
		s->seq += s->len;
	s->id++;
	s->pay_off += s->len;
}

/* The plain record i holds exactly these bytes. */
static void expect_plain(const struct tu_h *h, size_t i, const uint8_t *p, size_t n)
{
	struct tb_vnet_hdr v;
	size_t len;
	const uint8_t *r = tu_rec(h, i, &len, &v);

	assert_non_null(r);
	assert_int_equal(v.gso_type, TB_GSO_NONE);
	assert_int_equal(v.flags, 0);
	assert_int_equal(len, n);
	assert_memory_equal(r, p, n);
}

/* One bit flipped in any byte of the L4 header's checksum or of the
 * payload (odd and even lengths, every bit position over the bytes): caught,
 * verbatim, its flow sealed. */
static void any_bit(void **st)
{
	(void)st;
	for (int kind = 0; kind < 4; kind++) {
		for (uint32_t len = 99; len <= 100; len++) {
			struct tu_spec probe = flow(kind, len);
			uint8_t p[256];
			size_t n = tu_build(&probe, p, sizeof(p));
			size_t l4 = kind & 1 ? 40 : 20, csum = l4 + (kind < 2 ? 16 : 6);
			size_t from = n - len;

			for (size_t at = from - 2; at < n; at++) {
				struct tu_h *h = tu_new(CAPS, &verify, 0);
				struct tu_spec s = flow(kind, len);
				uint8_t bad[256];

				if (at == from - 2)
					at = csum; /* the checksum field itself first */
				tu_context("kind %d len %u byte %zu", kind, len, at);
				add(h, &s);
				add(h, &s);
				n = tu_build(&s, bad, sizeof(bad));
				bad[at] ^= (uint8_t)(1u << (at % 8));
				tu_add_bytes(h, bad, n);
				s.seq += kind < 2 ? s.len : 0;
				s.id++;
				s.pay_off += s.len;
				add(h, &s);
				add(h, &s);
				assert_int_equal(tu_flush(h), 0);
				tu_expect(h, "[0 1] 2 [3 4]");
				tu_expect_why(h, "bad_csum=1 flush=1");
				expect_plain(h, 1, bad, n);
				tu_free(h);
				if (at == csum)
					at = from - 1;
			}
		}
	}
	tu_context("%s", "");
}

/* A bad packet seals its own flow only: another flow's chain grows across
 * it; a bad first packet seeds nothing. */
static void own_flow_only(void **st)
{
	(void)st;
	for (int kind = 0; kind < 4; kind++) {
		struct tu_h *h = tu_new(CAPS, &verify, 0);
		struct tu_spec a = flow(kind, 100), b = flow(kind, 100);

		tu_context("kind %d", kind);
		b.sport = 7;
		add(h, &a); /* 0 */
		add(h, &b); /* 1 */
		a.bad_csum = 1;
		add(h, &a); /* 2 */
		a.bad_csum = 0;
		add(h, &b); /* 3 */
		add(h, &a); /* 4 */
		b.bad_csum = 1;
		add(h, &b); /* 5 */
		b.bad_csum = 0;
		add(h, &b); /* 6 */
		add(h, &b); /* 7 */
		assert_int_equal(tu_flush(h), 0);
		tu_expect(h, "0 [1 3] 2 4 5 [6 7]");
		tu_expect_why(h, "bad_csum=2 flush=2");
		tu_free(h);
	}
	tu_context("%s", "");
}

/* A TCP checksum that computes to zero may be sent as 0x0000 or 0xFFFF:
 * both verify (ones' complement has two zeros), and both merge. */
static void both_zeros(void **st)
{
	(void)st;
	for (int v6 = 0; v6 < 2; v6++) {
		struct tu_h *h = tu_new(CAPS, &verify, 0);
		struct tu_spec s = flow(v6, 100);
		uint8_t p[3][256];
		size_t n = 0;

		tu_context("v6 %d", v6);
		for (int k = 0; k < 3; k++) {
			size_t l4 = v6 ? 40 : 20;
			uint32_t sum;
			n = tu_build(&s, p[k], sizeof(p[k]));
			/* Choose the last two payload bytes so the checksum is 0. */
			p[k][n - 2] = p[k][n - 1] = 0;
			p[k][l4 + 16] = p[k][l4 + 17] = 0;
			sum = tu_sum(p[k] + l4, n - l4, tu_pseudo(p[k], 6, (uint32_t)(n - l4)));
			tu_put16(p[k] + n - 2, (uint16_t)~tu_fold(sum));
			sum = tu_sum(p[k] + l4, n - l4, tu_pseudo(p[k], 6, (uint32_t)(n - l4)));
			assert_int_equal(tu_fold(sum), 0xffff);
			if (k == 1)
				tu_put16(p[k] + l4 + 16, 0xffff);
			tu_add_bytes(h, p[k], n);
			s.seq += s.len;
			s.id++;
			s.pay_off += s.len;
		}
		assert_int_equal(tu_flush_flags(h, TU_NO_CHECK), 0);
		assert_int_equal(tu_nrec(h), 1);
		tu_expect_why(h, "flush=1");
		tu_free(h);
	}
	tu_context("%s", "");
}

/* UDP without a checksum: allowed on IPv4 (verified, then kept out of
 * chains as the UDP lane does), invalid on IPv6 (a bad checksum). */
static void udp_without_checksum(void **st)
{
	(void)st;
	for (int v6 = 0; v6 < 2; v6++) {
		for (int on = 0; on < 2; on++) {
			struct tu_h *h = tu_new(CAPS, on ? &verify : NULL, 0);
			struct tu_spec s = flow(2 + v6, 100);

			tu_context("v6 %d verify %d", v6, on);
			add(h, &s);
			add(h, &s);
			s.udp_nocsum = 1;
			add(h, &s);
			s.udp_nocsum = 0;
			add(h, &s);
			add(h, &s);
			assert_int_equal(tu_flush(h), 0);
			tu_expect(h, "[0 1] 2 [3 4]");
			tu_expect_why(h, on && v6 ? "bad_csum=1 flush=1" : "no_csum=1 flush=1");
			tu_free(h);
		}
	}
	tu_context("%s", "");
}

/* Equal but for the IPv4 header and TCP checksums (IPv4, TCP, no options). */
static int same_but_csums(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i] && i != 10 && i != 11 && i != 36 && i != 37)
			return 0;
	return 1;
}

/*
 * The example trace with one packet in 37 corrupted in its payload. With
 * verification each corrupted packet comes out alone and unchanged and is
 * counted; everything still comes out once and in order. Without, the same
 * packets are merged: cut back into segments they carry the corruption
 * under a valid checksum, which is why verification is on unless the
 * carrier authenticates its packets.
 */
static void corrupted_trace(void **st)
{
	(void)st;
	char err[256];
	struct tu_trace t;
	uint8_t *bad[256];
	size_t badlen[256];

	assert_int_equal(tu_trace_load(TB_EXAMPLES_DIR "/tcp4_bulk.pcap", &t, err, sizeof(err)), 0);
	for (int on = 1; on >= 0; on--) {
		struct tu_h *h = tu_new(CAPS, on ? &verify : NULL, 0);
		size_t flips = 0, nbad = 0, plain_bad = 0, hidden = 0, bad_csum = 0;

		tu_context("verify %d", on);
		for (size_t i = 0; i < t.n; i++) {
			uint8_t *p = malloc(t.pkts[i].len);
			assert_non_null(p);
			memcpy(p, t.pkts[i].data, t.pkts[i].len);
			if (i % 37 == 5 && t.pkts[i].len > 100) {
				assert_true(nbad < 256);
				p[t.pkts[i].len - 30] ^= 0x10;
				bad[nbad] = p;
				badlen[nbad++] = t.pkts[i].len;
				flips++;
			}
			tu_add_bytes(h, p, t.pkts[i].len);
			if (!nbad || bad[nbad - 1] != p)
				free(p);
			if ((i + 1) % 64 && i + 1 < t.n)
				continue;
			if (on) {
				struct tb_stats b;
				assert_int_equal(tu_flush(h), 0);
				tu_batch_stats(h, &b);
				bad_csum += b.why[TB_WHY_BAD_CSUM];
			} else {
				assert_int_equal(tu_flush_flags(h, TU_NO_CHECK), 0);
			}
			for (size_t r = 0; r < tu_nrec(h); r++) {
				struct tb_vnet_hdr v;
				struct tu_buf *seg;
				size_t len, nseg;
				const uint8_t *rec = tu_rec(h, r, &len, &v);
				if (v.gso_type == TB_GSO_NONE) {
					for (size_t k = 0; k < nbad; k++)
						plain_bad += len == badlen[k] &&
							     !memcmp(rec, bad[k], len);
					continue;
				}
				nseg = tu_segment(rec, len, &v, &seg, err, sizeof(err));
				assert_true(nseg > 1);
				for (size_t j = 0; j < nseg; j++) {
					for (size_t k = 0; k < nbad; k++) {
						if (seg[j].len != badlen[k] ||
						    !same_but_csums(seg[j].data, bad[k], badlen[k]))
							continue;
						/* The corruption, under a valid checksum. */
						uint32_t sum = tu_sum(
							seg[j].data + 20, seg[j].len - 20,
							tu_pseudo(seg[j].data, 6,
								  (uint32_t)(seg[j].len - 20)));
						assert_int_equal(tu_fold(sum), 0xffff);
						hidden++;
					}
				}
				tu_bufs_free(seg, nseg);
			}
			for (size_t k = 0; k < nbad; k++)
				free(bad[k]);
			nbad = 0;
		}
		assert_true(flips > 20);
		if (on) {
			assert_int_equal(bad_csum, flips);
			assert_int_equal(plain_bad, flips);
			assert_int_equal(hidden, 0);
		} else {
			assert_int_equal(plain_bad + hidden, flips);
			assert_true(hidden > flips / 2);
		}
		tu_free(h);
	}
	tu_context("%s", "");
	tu_trace_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(any_bit),	   cmocka_unit_test(own_flow_only),
		cmocka_unit_test(both_zeros),	   cmocka_unit_test(udp_without_checksum),
		cmocka_unit_test(corrupted_trace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
