/* SPDX-License-Identifier: MIT */
/*
 * The library's own writers, given what a coalescer never gives them: a
 * record index out of range, a superpacket whose length lies, and a vnet
 * log that can't be written.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void capture_get_out_of_range(void **st)
{
	(void)st;
	struct tb_capture *c = tb_capture_create(TU_CAPS);
	struct tb_writer *w = tb_capture_writer(c);
	const uint8_t pkt[20] = {0x45};
	size_t len = 7;

	assert_int_equal(w->write(w, pkt, sizeof(pkt)), 0);
	errno = 0;
	assert_null(tb_capture_get(c, 1, &len, NULL));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(len, 7); /* left alone */
	errno = 0;
	assert_null(tb_capture_get(c, SIZE_MAX, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_non_null(tb_capture_get(c, 0, &len, NULL));
	assert_int_equal(len, sizeof(pkt));
	tb_capture_destroy(c);
}

/* A superpacket that claims 100 bytes and brings 80,040: refused before a
 * byte is copied into the 100 bytes made for it (ASan would see the
 * overflow), and nothing is recorded. */
static void capture_lying_superpacket(void **st)
{
	(void)st;
	struct tb_capture *c = tb_capture_create(TU_CAPS);
	struct tb_writer *w = tb_capture_writer(c);
	static uint8_t hdr[40], payload[40000];
	struct iovec iov[2] = {{payload, sizeof(payload)}, {payload, sizeof(payload)}};
	struct tb_superpacket sp = {
		.vnet = {.flags = TB_VNET_F_NEEDS_CSUM,
			 .gso_type = TB_GSO_TCPV4,
			 .hdr_len = sizeof(hdr),
			 .gso_size = sizeof(payload),
			 .csum_start = 20,
			 .csum_offset = 16},
		.hdr = hdr,
		.payload = iov,
		.n_payload = 2,
		.len = 100,
	};

	assert_int_equal(w->write_gso(w, &sp), -EINVAL);
	assert_int_equal(tb_capture_count(c), 0);
	/* Headers longer than the whole, and a length past the pieces. */
	sp.n_payload = 0;
	sp.len = sizeof(hdr) - 1;
	assert_int_equal(w->write_gso(w, &sp), -EINVAL);
	sp.len = sizeof(hdr) + 1;
	assert_int_equal(w->write_gso(w, &sp), -EINVAL);
	assert_int_equal(tb_capture_count(c), 0);
	tb_capture_destroy(c);
}

/* The pcap writer refuses the same lies before it writes a byte: a record
 * whose stated length differs from its bytes would corrupt the file. */
static void pcap_lying_superpacket(void **st)
{
	(void)st;
	static uint8_t hdr[40], payload[1000];
	struct iovec iov[2] = {{payload, sizeof(payload)}, {payload, sizeof(payload)}};
	struct tb_superpacket sp = {
		.vnet = {.gso_type = TB_GSO_TCPV4, .hdr_len = sizeof(hdr), .gso_size = 1000},
		.hdr = hdr,
		.payload = iov,
		.n_payload = 2,
		.len = sizeof(hdr) + 2 * sizeof(payload) - 1,
	};
	char *buf = NULL;
	size_t size = 0, empty;
	FILE *f = open_memstream(&buf, &size);
	struct tb_pcap_writer *p;
	struct tb_writer *w;

	assert_non_null(f);
	p = tb_pcap_writer_create(f, NULL, TU_CAPS);
	assert_non_null(p);
	w = tb_pcap_writer_writer(p);
	fflush(f);
	empty = size;
	assert_int_equal(w->write_gso(w, &sp), -EINVAL);
	sp.len += 2;
	assert_int_equal(w->write_gso(w, &sp), -EINVAL);
	fflush(f);
	assert_int_equal(size, empty);
	sp.len -= 1;
	assert_int_equal(w->write_gso(w, &sp), 0);
	fflush(f);
	assert_int_equal(size, empty + 16 + sp.len);
	tb_pcap_writer_destroy(p);
	fclose(f);
	free(buf);
}

/* A vnet log that fails (a full device) does not fail a write whose pcap
 * record was written: the coalescer does not write the originals of the
 * superpacket again, so every packet is in the pcap file once, and the
 * log's error indicator tells it is incomplete. */
static void pcap_log_fails(void **st)
{
	(void)st;
	char path[] = "/tmp/tb_test_writers_XXXXXX", err[256];
	int fd = mkstemp(path);
	FILE *pcap = fd >= 0 ? fdopen(fd, "w+") : NULL, *log = fopen("/dev/full", "w");
	struct tb_arena *a = tb_arena_create(0);
	struct tb_pcap_writer *pw;
	struct tb_coalescer *co;
	struct tu_spec t = tu_tcp4(), i4 = tu_icmp4();
	struct tu_trace tr;
	struct tb_stats s;

	assert_non_null(pcap);
	if (!log) {
		fclose(pcap);
		unlink(path);
		tb_arena_destroy(a);
		skip();
	}
	setvbuf(log, NULL, _IONBF, 0);
	pw = tb_pcap_writer_create(pcap, log, TU_CAPS);
	assert_non_null(pw);
	co = tb_coalescer_create(tb_pcap_writer_writer(pw), a, NULL);
	assert_non_null(co);
	for (int i = 0; i < 4; i++) {
		struct tu_spec *x = i < 3 ? &t : &i4;
		size_t n = tu_spec_len(x);
		uint8_t *p = tb_coalescer_reserve(co, n);

		tu_build(x, p, n);
		assert_int_equal(tb_coalescer_commit(co, p, n), 0);
		tu_next(x);
	}
	assert_int_equal(tb_coalescer_flush(co), 0);
	tb_coalescer_stats(co, &s);
	assert_int_equal(s.writes, 2); /* one superpacket, one ICMP packet */
	assert_int_equal(s.superpackets, 1);
	assert_int_equal(s.write_errors, 0);
	assert_int_equal(s.fallbacks, 0);
	tb_coalescer_destroy(co);
	tb_pcap_writer_destroy(pw);
	assert_true(ferror(log));
	fclose(log);
	assert_int_equal(fclose(pcap), 0);

	assert_int_equal(tu_trace_load(path, &tr, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(tr.n, 2);
	assert_int_equal(tr.pkts[0].len, 40 + 3 * t.len);
	tu_trace_free(&tr);
	tb_arena_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(capture_get_out_of_range),
		cmocka_unit_test(capture_lying_superpacket),
		cmocka_unit_test(pcap_log_fails),
		cmocka_unit_test(pcap_lying_superpacket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
