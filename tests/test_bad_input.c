/* SPDX-License-Identifier: MIT */
/*
 * Bad input the other tests don't already show (docs/bad-input.md lists
 * every kind and the test for each): UDP lengths that lie, buffers over 64 KiB
 * and lengths past 4 GiB, the largest IPv4 and IPv6 packets, exact
 * duplicates, zero-length packets first in a fresh capture (found by
 * fuzzing), superpackets cut into one-byte segments, the largest IPv6
 * superpacket, the coalescer fed its own output, and reads too big or too
 * short for the TUN reader.
 */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CAPS (TB_CAP_TSO | TB_CAP_USO)

static void next(struct tu_spec *s)
{
	if (s->proto == 6)
		s->seq += s->len;
	s->id++;
	s->pay_off += s->len;
}

static size_t add(struct tu_h *h, struct tu_spec *s)
{
	size_t i = tu_add(h, s);

	next(s);
	return i;
}

/* A UDP length of 0 to 7 (shorter than the UDP header itself), one byte
 * more than the IP payload, or 65,535, in a datagram that is otherwise
 * whole: malformed, verbatim in the UDP lane, sealing it. */
static void udp_lengths(void **st)
{
	(void)st;
	static const unsigned lens[] = {0, 1, 2, 3, 4, 5, 6, 7, 109, 65535};

	for (int v6 = 0; v6 < 2; v6++) {
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			struct tu_h *h = tu_new(CAPS, NULL, 0);
			struct tu_spec s = v6 ? tu_udp6() : tu_udp4();
			size_t ip = v6 ? 40 : 20, n;
			uint8_t p[256];

			tu_context("v6 %d udp length %u", v6, lens[k]);
			s.len = 100;
			add(h, &s);
			add(h, &s);
			n = tu_build(&s, p, sizeof(p));
			assert_int_equal(n - ip, 108);
			tu_put16(p + ip + 4, (uint16_t)lens[k]);
			tu_fix_csums(p, n);
			tu_add_bytes(h, p, n);
			next(&s);
			add(h, &s);
			add(h, &s);
			assert_int_equal(tu_flush(h), 0);
			tu_expect(h, "[0 1] 2 [3 4]");
			tu_expect_why(h, "malformed=1 flush=1");
			tu_free(h);
		}
	}
	tu_context("%s", "");
}

/*
 * Buffers past 64 KiB: a TCP packet whose IP length says 1,100 in a 70,000
 * byte buffer is trimmed to 1,100; the same bytes with a version nibble of 0
 * go out whole on the passthrough lane; a length past 4 GiB is refused
 * before the packet is read.
 */
static void over_64k(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(CAPS, NULL, 0);
	struct tu_spec s = tu_tcp4();
	static uint8_t p[70000];
	size_t n, len;
	struct tb_vnet_hdr v;
	const uint8_t *r;

	s.len = 1060;
	memset(p, 0xab, sizeof(p));
	n = tu_build(&s, p, sizeof(p));
	assert_int_equal(n, 1100);
	tu_add_bytes(h, p, sizeof(p)); /* 0: trimmed */
	p[0] = 0x05;
	tu_add_bytes(h, p, sizeof(p)); /* 1: not IP */
	assert_int_equal(tu_flush(h), 0);
	tu_expect(h, "0 1");
	r = tu_rec(h, 0, &len, &v);
	assert_int_equal(len, 1100);
	r = tu_rec(h, 1, &len, &v);
	assert_int_equal(len, sizeof(p));
	assert_int_equal(r[0], 0x05);
	tu_free(h);

	/* Refused without reading a byte: the pointer is to 1 byte only. */
	struct tb_arena *a = tb_arena_create(0);
	struct tb_capture *c = tb_capture_create(CAPS);
	struct tb_coalescer *co = tb_coalescer_create(tb_capture_writer(c), a, NULL);
	uint8_t one = 0x45;
	struct tb_stats stt;

	assert_non_null(co);
#if SIZE_MAX > UINT32_MAX
	assert_int_equal(tb_coalescer_commit(co, &one, (size_t)UINT32_MAX + 1), -EINVAL);
	assert_int_equal(tb_coalescer_commit(co, &one, SIZE_MAX), -EINVAL);
#endif
	assert_int_equal(tb_coalescer_commit(co, NULL, 0), -EINVAL);
	tb_coalescer_stats(co, &stt);
	assert_int_equal(stt.pkts_in, 0);
	assert_int_equal(tb_coalescer_flush(co), 0);
	assert_int_equal(tb_capture_count(c), 0);
	tb_coalescer_destroy(co);
	tb_capture_destroy(c);
	tb_arena_destroy(a);
}

/*
 * The largest packets the IP headers can describe: a 65,535-byte IPv4
 * packet and a 65,575-byte IPv6 one (payload length 65,535). Each goes out
 * alone, unchanged; a second one never joins it (no superpacket over 65,535
 * bytes). Smaller ones behind them still merge with each other.
 */
static void largest_packets(void **st)
{
	(void)st;
	for (int c = 0; c < 4; c++) {
		int v6 = c & 1, udp = c >= 2;
		struct tu_h *h = tu_new(CAPS, NULL, 0);
		struct tu_spec s =
			v6 ? (udp ? tu_udp6() : tu_tcp6()) : (udp ? tu_udp4() : tu_tcp4());
		size_t hl = (v6 ? 40 : 20) + (udp ? 8 : 20);
		size_t len;
		struct tb_vnet_hdr v;

		tu_context("case %d", c);
		s.len = (uint32_t)((v6 ? 65535 + 40 : 65535) - hl);
		add(h, &s); /* 0 */
		add(h, &s); /* 1 */
		s.len = 1000;
		add(h, &s); /* 2 */
		add(h, &s); /* 3 */
		assert_int_equal(tu_flush(h), 0);
		tu_expect(h, "0 1 [2 3]");
		tu_rec(h, 0, &len, &v);
		assert_int_equal(len, v6 ? 65575 : 65535);
		assert_int_equal(v.gso_type, TB_GSO_NONE);
		tu_free(h);
	}
	tu_context("%s", "");
}

/* The same packet twice (a duplicate on the carrier): the copy can't extend
 * the chain (its sequence number is stale) and seeds the next one; nothing
 * is lost or reordered. */
static void exact_duplicates(void **st)
{
	(void)st;
	for (int v6 = 0; v6 < 2; v6++) {
		struct tu_h *h = tu_new(CAPS, NULL, 0);
		struct tu_spec s = v6 ? tu_tcp6() : tu_tcp4(), d;

		s.len = 500;
		add(h, &s); /* 0 */
		d = s;
		add(h, &s);    /* 1 */
		tu_add(h, &d); /* 2: a copy of 1 */
		add(h, &s);    /* 3 */
		add(h, &s);    /* 4 */
		assert_int_equal(tu_flush(h), 0);
		tu_expect(h, "[0 1] [2 3 4]");
		tu_expect_why(h, "seq=1 flush=1");
		tu_free(h);
	}
	for (int v6 = 0; v6 < 2; v6++) {
		/* UDP has no sequence number: an equal datagram merges, as
		 * Linux GRO would; the copy is still delivered. */
		struct tu_h *h = tu_new(CAPS, NULL, 0);
		struct tu_spec s = v6 ? tu_udp6() : tu_udp4(), d;

		s.len = 500;
		add(h, &s);
		d = s;
		add(h, &s);
		tu_add(h, &d);
		assert_int_equal(tu_flush(h), 0);
		tu_expect(h, "[0 1 2]");
		tu_free(h);
	}
}

/* A zero-length packet, then a one-byte one, as the first writes of a
 * fresh capture writer: recorded, and readable back (the capture had no
 * buffer yet). Found by the coalescer fuzz target. */
static void zero_length_first(void **st)
{
	(void)st;
	for (int order = 0; order < 2; order++) {
		struct tb_arena *a = tb_arena_create(0);
		struct tb_capture *c = tb_capture_create(CAPS);
		struct tb_coalescer *co = tb_coalescer_create(tb_capture_writer(c), a, NULL);
		uint8_t *p = tb_coalescer_reserve(co, 1);
		size_t len = 99;
		struct tb_vnet_hdr v;

		p[0] = 0x45;
		assert_int_equal(tb_coalescer_commit(co, p, 0), 0);
		if (order)
			assert_int_equal(tb_coalescer_commit(co, p, 1), 0);
		assert_int_equal(tb_coalescer_flush(co), 0);
		assert_int_equal(tb_capture_count(c), order ? 2 : 1);
		assert_non_null(tb_capture_get(c, 0, &len, &v));
		assert_int_equal(len, 0);
		if (order) {
			const uint8_t *r = tb_capture_get(c, 1, &len, &v);
			assert_non_null(r);
			assert_int_equal(len, 1);
			assert_int_equal(r[0], 0x45);
		}
		tb_coalescer_destroy(co);
		tb_capture_destroy(c);
		tb_arena_destroy(a);
	}
}

struct cut {
	size_t n, bytes;
	int bad;
};

static int count_cb(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct cut *c = user;
	uint8_t p[128];
	size_t len = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		if (len + iov[i].iov_len > sizeof(p)) {
			c->bad = 1;
			return 0;
		}
		memcpy(p + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	/* Each segment's TCP checksum must hold. */
	if (tu_fold(tu_sum(p + 20, len - 20, tu_pseudo(p, 6, (uint32_t)(len - 20)))) != 0xffff)
		c->bad = 1;
	c->n++;
	c->bytes += len;
	return 0;
}

/*
 * gso_size 1 on a 65,535-byte superpacket from TUN: 65,495 one-byte
 * segments, every one with a valid checksum; tb_segment_into refuses it
 * unless told it may write that many.
 */
static void one_byte_segments(void **st)
{
	(void)st;
	static uint8_t pkt[65535], out[65495 * 41];
	struct tu_spec s = tu_tcp4();
	struct tb_vnet_hdr v = {TB_VNET_F_NEEDS_CSUM, TB_GSO_TCPV4, 40, 1, 20, 16};
	struct cut c = {0, 0, 0};
	size_t n;

	s.len = 65535 - 40;
	n = tu_build(&s, pkt, sizeof(pkt));
	assert_int_equal(n, 65535);
	assert_int_equal(tb_segment(&v, pkt, n, count_cb, &c), 65495);
	assert_int_equal(c.n, 65495);
	assert_int_equal(c.bytes, (size_t)65495 * 41);
	assert_false(c.bad);
	assert_int_equal(tb_segment_into(&v, pkt, n, out, sizeof(out), NULL, 64), -ENOBUFS);
	assert_int_equal(tb_segment_into(&v, pkt, n, out, sizeof(out) - 1, NULL, 70000), -ENOBUFS);
	assert_int_equal(tb_segment_into(&v, pkt, n, out, sizeof(out), NULL, 70000), 65495);
}

/* The largest IPv6 superpacket TUN can hand over: payload length 65,535,
 * 65,575 bytes in all. Validated and cut like any other. */
static void largest_ipv6_superpacket(void **st)
{
	(void)st;
	static uint8_t pkt[65575];
	struct tu_spec s = tu_udp6();
	struct tb_vnet_hdr v = {TB_VNET_F_NEEDS_CSUM, TB_GSO_UDP_L4, 48, 1400, 40, 6}, w;
	uint8_t out[1500];
	size_t n, lens[64];
	int k;

	s.len = 65535 - 8;
	n = tu_build(&s, pkt, sizeof(pkt));
	assert_int_equal(n, 65575);
	w = v;
	assert_int_equal(tb_vnet_validate(&w, pkt, n), TB_VNET_OK);
	k = tb_segment_into(&v, pkt, n, out, sizeof(out), lens, 64);
	assert_int_equal(k, -ENOBUFS);
	{
		static uint8_t big[48 * 47 + 65527];
		k = tb_segment_into(&v, pkt, n, big, sizeof(big), lens, 64);
		assert_int_equal(k, 47); /* 65,527 / 1,400, rounded up */
		assert_int_equal(lens[46], 48 + 65527 - 46 * 1400);
	}
}

/*
 * The coalescer's own output fed back in: superpackets (IP lengths of up to
 * 64 KiB, checksum fields holding a pseudo-header sum) are just big packets
 * of their flow. They must not merge into anything over 65,535 bytes, and
 * come out whole.
 */
static void own_output_back(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(CAPS, NULL, 0), *h2;
	struct tu_spec s = tu_tcp4();
	uint8_t *copies[8];
	size_t lens[8], n = 0;

	s.len = 1400;
	for (int i = 0; i < 90; i++)
		add(h, &s);
	assert_int_equal(tu_flush(h), 0);
	for (size_t r = 0; r < tu_nrec(h) && n < 8; r++) {
		const uint8_t *p = tu_rec(h, r, &lens[n], NULL);
		copies[n] = malloc(lens[n]);
		assert_non_null(copies[n]);
		memcpy(copies[n], p, lens[n]);
		n++;
	}
	assert_true(n >= 2);
	h2 = tu_new(CAPS, NULL, 0);
	for (size_t i = 0; i < n; i++)
		tu_add_bytes(h2, copies[i], lens[i]);
	assert_int_equal(tu_flush_flags(h2, TU_NO_CHECK), 0);
	assert_int_equal(tu_nrec(h2), n);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const uint8_t *r = tu_rec(h2, i, &len, NULL);
		assert_int_equal(len, lens[i]);
		assert_memory_equal(r, copies[i], len);
		free(copies[i]);
	}
	tu_free(h2);
	tu_free(h);
}

/*
 * A read that fills all the room the reader offered (a packet over 64 KiB,
 * or one cut by the read) is dropped and counted as oversize, and reading
 * goes on; so is a read shorter than a virtio header.
 */
static void reader_oversize(void **st)
{
	(void)st;
	static uint8_t big[10 + 70000];
	uint8_t small[10 + 128];
	struct tu_spec s = tu_tcp4();
	struct tb_tun_reader_stats rs;
	const struct tb_tun_pkt *pk;
	struct tb_tun_reader *r;
	struct tb_tun *t;
	int sv[2], sz = 1 << 20, n;
	size_t len;

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	t = tb_tun_attach(sv[1], NULL);
	assert_non_null(t);
	/* The smallest buffer: room for one 64 KiB packet, which 70,000 bytes
	 * overflow. */
	r = tb_tun_reader_create(t, 0, &(struct tb_tun_reader_opts){.buf_size = 1});
	assert_non_null(r);
	memset(big, 0, sizeof(big));
	big[10] = 0x45;
	s.len = 50;
	memset(small, 0, 10);
	len = tu_build(&s, small + 10, sizeof(small) - 10);
	assert_int_equal(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(send(sv[0], small, 5, 0), 5);
	assert_int_equal(send(sv[0], small, 10 + len, 0), (ssize_t)(10 + len));
	n = tb_tun_read(r, 1000, &pk);
	assert_int_equal(n, 1);
	assert_int_equal(pk[0].len, len);
	assert_memory_equal(pk[0].data, small + 10, len);
	tb_tun_reader_stats(r, &rs);
	assert_int_equal(rs.reads, 3);
	assert_int_equal(rs.oversize, 1);
	assert_int_equal(rs.short_reads, 1);
	assert_int_equal(rs.dropped, 2);
	tb_tun_reader_destroy(r);
	tb_tun_close(t);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(udp_lengths),
		cmocka_unit_test(over_64k),
		cmocka_unit_test(largest_packets),
		cmocka_unit_test(exact_duplicates),
		cmocka_unit_test(zero_length_first),
		cmocka_unit_test(one_byte_segments),
		cmocka_unit_test(largest_ipv6_superpacket),
		cmocka_unit_test(own_output_back),
		cmocka_unit_test(reader_oversize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
