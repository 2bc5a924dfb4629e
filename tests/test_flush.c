/* SPDX-License-Identifier: MIT */
/*
 * Flush: lane order, draining every lane whatever fails, the first error,
 * superpackets rewritten as their originals, early writes of a full lane,
 * and no pointer into caller memory afterwards.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct tu_spec tcp(void)
{
	struct tu_spec s = tu_tcp4();

	s.len = 200;
	return s;
}

static struct tu_spec udp(void)
{
	struct tu_spec s = tu_udp6();

	s.len = 300;
	return s;
}

/* The last batch's fallbacks (superpackets rewritten as their originals)
 * and failed writes. */
static void expect_failures(const struct tu_h *h, uint64_t fallbacks, uint64_t write_errors)
{
	struct tb_stats s;

	tu_batch_stats(h, &s);
	assert_int_equal(s.fallbacks, fallbacks);
	assert_int_equal(s.write_errors, write_errors);
}

static void lane_order(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec t = tcp(), u = udp(), i4 = tu_icmp4(), i6 = tu_icmp6();

	tu_add(h, &i4);	    /* 0 */
	tu_add_next(h, &u); /* 1 */
	tu_add_next(h, &t); /* 2 */
	tu_add(h, &i6);	    /* 3 */
	tu_add_next(h, &u); /* 4 */
	tu_add_next(h, &t); /* 5 */
	i4.seq++;
	tu_add(h, &i4);	    /* 6 */
	tu_add_next(h, &u); /* 7 */
	tu_flush_expect(h, "[2 5] [1 4 7] 0 3 6", NULL);
	tu_free(h);
}

/* A lane whose write fails does not stop the others; flush returns it. */
static void error_does_not_stop_others(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec t = tcp(), u = udp(), i4 = tu_icmp4();

	tu_add_next(h, &t); /* 0: alone, a plain write, which fails */
	tu_add_next(h, &u); /* 1 */
	tu_add(h, &i4);	    /* 2 */
	tu_add_next(h, &u); /* 3 */
	tbi_capture_fail(h->cap, 1, -EIO, 0);
	assert_int_equal(tu_flush_flags(h, TU_ALLOW_LOSS), -EIO);
	tu_expect(h, "[1 3] 2");
	expect_failures(h, 0, 1);

	/* The next burst is unaffected. */
	tu_add_next(h, &t);
	tu_add_next(h, &t);
	tu_flush_expect(h, "[0 1]", NULL);
	tu_free(h);
}

/* A writer that fails chosen calls with chosen errors. */
struct err_writer {
	struct tb_writer w;
	struct tb_writer *inner;
	unsigned calls;
	int err[16]; /* by call number */
};

static int ew_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct err_writer *e = (struct err_writer *)w;
	unsigned n = e->calls++;

	if (n < 16 && e->err[n])
		return e->err[n];
	return e->inner->write(e->inner, pkt, len);
}

static int ew_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct err_writer *e = (struct err_writer *)w;
	unsigned n = e->calls++;

	if (n < 16 && e->err[n])
		return e->err[n];
	return e->inner->write_gso(e->inner, sp);
}

static void first_error_returned(void **st)
{
	(void)st;
	struct tb_capture *cap = tb_capture_create(TU_CAPS);
	struct err_writer e = {.w = {.write = ew_write, .write_gso = ew_write_gso, .caps = TU_CAPS},
			       .inner = tb_capture_writer(cap)};
	struct tb_arena *a = tb_arena_create(0);
	struct tb_coalescer *co = tb_coalescer_create(&e.w, a, NULL);
	struct tu_spec t = tcp(), t2 = tcp(), u = udp(), i4 = tu_icmp4();
	struct tb_stats s;
	uint8_t *p;

	t2.sport = 7;
	/* Writes: TCP [t t], t2, UDP [u u], icmp. Calls 1 and 3 fail. */
	const struct tu_spec *order[] = {&t, &u, &t2, &i4, &t, &u};
	for (size_t k = 0; k < 6; k++) {
		struct tu_spec *x = (struct tu_spec *)order[k];
		size_t n = tu_spec_len(x);
		p = tb_coalescer_reserve(co, n);
		tu_build(x, p, n);
		assert_int_equal(tb_coalescer_commit(co, p, n), 0);
		if (x->proto == 6)
			x->seq += x->len;
	}
	e.err[1] = -ENOSPC;
	e.err[3] = -EPERM;
	assert_int_equal(tb_coalescer_flush(co), -ENOSPC);
	assert_int_equal(e.calls, 4);
	assert_int_equal(tb_capture_count(cap), 2);
	tb_coalescer_stats(co, &s);
	assert_int_equal(s.write_errors, 2);
	assert_int_equal(s.writes, 2);
	assert_int_equal(s.superpackets, 2);

	/* The error does not stick to the next flush. */
	assert_int_equal(tb_coalescer_flush(co), 0);
	tb_coalescer_destroy(co);
	tb_arena_destroy(a);
	tb_capture_destroy(cap);
}

/* A rejected superpacket is written as its original packets. */
static void fallback(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec t = tcp(), u = udp(), i4 = tu_icmp4();
	struct tb_stats s;

	for (int i = 0; i < 3; i++) {
		tu_add_next(h, &t); /* 0 2 4 */
		tu_add_next(h, &u); /* 1 3 5 */
	}
	tu_add(h, &i4); /* 6 */
	tbi_capture_fail(h->cap, 1, -EINVAL, 1);
	tu_flush_expect(h, "0 2 4 [1 3 5] 6", NULL);
	expect_failures(h, 1, 1);
	tu_batch_stats(h, &s);
	assert_int_equal(s.superpackets, 1);

	/* Both lanes rejected. */
	for (int i = 0; i < 3; i++) {
		tu_add_next(h, &t);
		tu_add_next(h, &u);
	}
	tbi_capture_fail(h->cap, 2, -EINVAL, 1);
	tu_flush_expect(h, "0 2 4 1 3 5", NULL);
	expect_failures(h, 2, 2);
	tu_batch_stats(h, &s);
	assert_int_equal(s.superpackets, 0);

	/* The superpacket and then an original fail: that one is lost, and
	 * flush says so. */
	for (int i = 0; i < 3; i++)
		tu_add_next(h, &t);
	tu_add_next(h, &u);
	tbi_capture_fail(h->cap, 2, -EIO, 0);
	assert_int_equal(tu_flush_flags(h, TU_ALLOW_LOSS), -EIO);
	tu_expect(h, "1 2 3");
	expect_failures(h, 1, 2);
	tu_free(h);
}

static void drains_everything(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec t = tcp(), u = udp(), i4 = tu_icmp4();

	for (int i = 0; i < 5; i++) {
		tu_add_next(h, &t);
		tu_add_next(h, &u);
		tu_add(h, &i4);
	}
	assert_int_equal(tu_flush(h), 0);
	assert_int_equal(tu_nrec(h), 7);
	assert_int_equal(tb_arena_used(h->arena), 0);
	/* Nothing is left behind. */
	assert_int_equal(tu_flush(h), 0);
	assert_int_equal(tu_nrec(h), 0);
	tb_coalescer_reset_stats(h->co);
	{
		struct tb_stats z, zero;
		memset(&zero, 0, sizeof(zero));
		tb_coalescer_stats(h->co, &z);
		assert_memory_equal(&z, &zero, sizeof(z));
	}
	/* Chains do not continue across a flush. */
	tu_add_next(h, &t);
	tu_flush_expect(h, "0", NULL);
	tu_free(h);
}

/* A lane holding max_pkts packets is written before flush. */
static void early_drain(void **st)
{
	(void)st;
	struct tb_coalescer_opts o = {.flags = 0, .max_pkts = 4};
	struct tu_h *h = tu_new(TU_CAPS, &o, 0);
	struct tu_spec t = tcp(), u = udp(), i4 = tu_icmp4();
	struct tb_stats s;

	for (int i = 0; i < 10; i++)
		tu_add_next(h, &t); /* 0-9 */
	assert_int_equal(tu_nrec(h), 2);
	tu_add_next(h, &u); /* 10 */
	tu_add_next(h, &u); /* 11 */
	for (int i = 0; i < 5; i++) {
		tu_add(h, &i4); /* 12-16 */
		i4.seq++;
	}
	assert_int_equal(tu_nrec(h), 6);
	tu_flush_expect(h, "[0 1 2 3] [4 5 6 7] 12 13 14 15 [8 9] [10 11] 16", "full=2 flush=2");
	tu_batch_stats(h, &s);
	assert_int_equal(s.writes, 9);

	/* One packet per lane: every packet is written alone. */
	o.max_pkts = 1;
	struct tu_h *h1 = tu_new(TU_CAPS, &o, 0);
	t = tcp();
	for (int i = 0; i < 5; i++)
		tu_add_next(h1, &t);
	tu_flush_expect(h1, "0 1 2 3 4", "full=4 flush=1");
	tu_free(h1);

	/* A superpacket rejected while writing early: its originals go. */
	t = tcp();
	for (int i = 0; i < 4; i++)
		tu_add_next(h, &t);
	tbi_capture_fail(h->cap, 1, -EIO, 1);
	tu_add_next(h, &t);
	tu_add_next(h, &t);
	tu_flush_expect(h, "0 1 2 3 [4 5]", NULL);
	expect_failures(h, 1, 1);

	/* A packet lost while writing early: flush returns that error. */
	for (int i = 0; i < 4; i++) {
		t.sport = (uint16_t)(100 + i);
		tu_add_next(h, &t);
	}
	tbi_capture_fail(h->cap, 1, -EIO, 0);
	tu_add_next(h, &t);
	tu_add_next(h, &t);
	assert_int_equal(tu_flush_flags(h, TU_ALLOW_LOSS), -EIO);
	tu_expect(h, "1 2 3 [4 5]");
	tu_expect_why(h, "full=4 flush=1");
	expect_failures(h, 0, 1);
	tu_free(h);
}

/* After flush the coalescer holds no pointer into caller memory: packets in
 * the caller's own buffers are freed, and the coalescer carries on (ASan
 * would report any access to them). */
static void no_pointer_kept(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec t = tcp(), u = udp();
	uint8_t *bufs[6];

	for (int i = 0; i < 6; i++) {
		struct tu_spec *x = i % 2 ? &u : &t;
		size_t n = tu_spec_len(x);
		bufs[i] = malloc(n);
		assert_non_null(bufs[i]);
		tu_build(x, bufs[i], n);
		tu_add_ptr(h, bufs[i], n);
		if (x->proto == 6)
			x->seq += x->len;
		x->pay_off += x->len;
	}
	tu_flush_expect(h, "[0 2 4] [1 3 5]", NULL);
	for (int i = 0; i < 6; i++)
		free(bufs[i]);
	assert_int_equal(tu_flush(h), 0);
	assert_int_equal(tu_nrec(h), 0);
	tu_add_next(h, &t);
	tu_add_next(h, &u);
	tu_add_next(h, &t);
	tu_flush_expect(h, "[0 2] 1", NULL);
	tu_free(h);
}

/* The pcap writer records exactly what the capture writer sees, in order,
 * and logs each record's virtio header. */
static void pcap_writer_roundtrip(void **st)
{
	(void)st;
	char path[] = "/tmp/tb_test_flush_XXXXXX", line[256], err[256];
	int fd = mkstemp(path);
	FILE *pcap = fd >= 0 ? fdopen(fd, "w+") : NULL, *log = tmpfile();
	struct tb_pcap_writer *pw;
	struct tb_arena *a = tb_arena_create(0);
	struct tb_coalescer *co;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec t = tcp(), u = udp(), i4 = tu_icmp4();
	struct tu_trace tr;

	assert_non_null(pcap);
	assert_non_null(log);
	pw = tb_pcap_writer_create(pcap, log, TU_CAPS);
	assert_non_null(pw);
	co = tb_coalescer_create(tb_pcap_writer_writer(pw), a, NULL);
	assert_non_null(co);
	for (int i = 0; i < 7; i++) {
		struct tu_spec *x = i % 3 == 0 ? &t : i % 3 == 1 ? &u : &i4;
		size_t n = tu_spec_len(x);
		uint8_t *p = tb_coalescer_reserve(co, n);
		tu_build(x, p, n);
		assert_int_equal(tb_coalescer_commit(co, p, n), 0);
		tu_add_next(h, x);
	}
	assert_int_equal(tb_coalescer_flush(co), 0);
	tu_flush_expect(h, "[0 3 6] [1 4] 2 5", NULL);
	tb_pcap_writer_destroy(pw);
	fclose(pcap);

	assert_int_equal(tu_trace_load(path, &tr, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(tr.n, tu_nrec(h));
	rewind(log);
	for (size_t i = 0; i < tr.n; i++) {
		struct tb_vnet_hdr v;
		size_t len;
		const uint8_t *r = tu_rec(h, i, &len, &v);
		char want[256];

		assert_int_equal(tr.pkts[i].len, len);
		assert_memory_equal(tr.pkts[i].data, r, len);
		snprintf(want, sizeof(want),
			 "{\"gso_type\":\"%s\",\"gso_size\":%u,\"hdr_len\":%u,"
			 "\"csum_start\":%u,\"csum_offset\":%u,\"needs_csum\":%s}\n",
			 v.gso_type == TB_GSO_TCPV4 ? "tcpv4"
			 : v.gso_type		    ? "udp_l4"
						    : "none",
			 v.gso_size, v.hdr_len, v.csum_start, v.csum_offset,
			 v.flags ? "true" : "false");
		assert_non_null(fgets(line, sizeof(line), log));
		assert_string_equal(line, want);
	}
	assert_null(fgets(line, sizeof(line), log));
	fclose(log);
	tu_trace_free(&tr);
	tb_coalescer_destroy(co);
	tb_arena_destroy(a);
	tu_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lane_order),
		cmocka_unit_test(error_does_not_stop_others),
		cmocka_unit_test(first_error_returned),
		cmocka_unit_test(fallback),
		cmocka_unit_test(drains_everything),
		cmocka_unit_test(early_drain),
		cmocka_unit_test(no_pointer_kept),
		cmocka_unit_test(pcap_writer_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
