/* SPDX-License-Identifier: MIT */
/*
 * The struct growth rule of the ABI: every reserved member a caller fills
 * must be zero, and is refused with EINVAL when it is not, by every
 * constructor that reads it; statistics come back with their reserved
 * members and unused enum room zero.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void coalescer_opts_reserved(void **st)
{
	(void)st;
	struct tb_capture *cap = tb_capture_create(TU_CAPS);
	struct tb_arena *a = tb_arena_create(0);

	for (unsigned i = 0; i < 8; i++) {
		struct tb_coalescer_opts o = {.max_pkts = 16};
		o.reserved[i] = 1u << i;
		errno = 0;
		assert_null(tb_coalescer_create(tb_capture_writer(cap), a, &o));
		assert_int_equal(errno, EINVAL);
	}
	struct tb_coalescer *c = tb_coalescer_create(tb_capture_writer(cap), a,
						     &(struct tb_coalescer_opts){.max_pkts = 16});
	assert_non_null(c);
	tb_coalescer_destroy(c);
	tb_arena_destroy(a);
	tb_capture_destroy(cap);
}

static int nop_write(struct tb_writer *w, const void *pkt, size_t len)
{
	return 0;
}

static void writer_reserved(void **st)
{
	(void)st;
	struct tb_arena *a = tb_arena_create(0);
	struct tb_writer w = {.write = nop_write};
	struct tb_coalescer *c;

	for (unsigned i = 0; i < 4; i++) {
		memset(w.reserved, 0, sizeof(w.reserved));
		w.reserved[i] = &w;
		errno = 0;
		assert_null(tb_coalescer_create(&w, a, NULL));
		assert_int_equal(errno, EINVAL);
	}
	memset(w.reserved, 0, sizeof(w.reserved));
	c = tb_coalescer_create(&w, a, NULL);
	assert_non_null(c);
	tb_coalescer_destroy(c);
	tb_arena_destroy(a);
}

static void tun_opts_reserved(void **st)
{
	(void)st;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	for (unsigned i = 0; i < 8; i++) {
		struct tb_tun_opts o = {0};
		o.reserved[i] = 1;
		errno = 0;
		assert_null(tb_tun_attach(sv[1], &o));
		assert_int_equal(errno, EINVAL);
	}
	struct tb_tun *t = tb_tun_attach(sv[1], &(struct tb_tun_opts){0});
	assert_non_null(t);
	for (unsigned i = 0; i < 8; i++) {
		struct tb_tun_reader_opts ro = {0};
		ro.reserved[i] = 1;
		errno = 0;
		assert_null(tb_tun_reader_create(t, 0, &ro));
		assert_int_equal(errno, EINVAL);
	}
	struct tb_tun_reader *r = tb_tun_reader_create(t, 0, &(struct tb_tun_reader_opts){0});
	assert_non_null(r);

	/* A refused header and a good packet: the stats' reserved members stay zero. */
	uint8_t pkt[10 + 20] = {0};
	pkt[0] = 0x80; /* an unknown virtio flag */
	assert_int_equal(send(sv[0], pkt, sizeof(pkt), 0), (ssize_t)sizeof(pkt));
	const struct tb_tun_pkt *pk;
	assert_int_equal(tb_tun_read(r, 1000, &pk), 0);
	struct tb_tun_reader_stats rs;
	memset(&rs, 0xa5, sizeof(rs));
	tb_tun_reader_stats(r, &rs);
	assert_int_equal(rs.bad[TB_VNET_E_FLAGS], 1);
	for (unsigned i = TB_VNET_E_COUNT; i < TB_STATS_VNET_ERRS; i++)
		assert_int_equal(rs.bad[i], 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(rs.reserved[i], 0);

	tb_tun_reader_destroy(r);
	tb_tun_close(t);
	close(sv[0]);
	close(sv[1]);
}

static void carrier_opts_reserved(void **st)
{
	(void)st;
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct tb_carrier *c;

	for (unsigned i = 0; i < 8; i++) {
		struct tb_carrier_opts o = {.bind = (struct sockaddr *)&lo, .bind_len = sizeof(lo)};
		o.reserved[i] = 1;
		errno = 0;
		assert_null(tb_carrier_open(&o));
		assert_int_equal(errno, EINVAL);
	}
	c = tb_carrier_open(
		&(struct tb_carrier_opts){.bind = (struct sockaddr *)&lo, .bind_len = sizeof(lo)});
	assert_non_null(c);
	struct tb_carrier_stats cs;
	memset(&cs, 0xa5, sizeof(cs));
	tb_carrier_stats(c, &cs);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(cs.reserved[i], 0);
	tb_carrier_close(c);
}

static void coalescer_stats_room(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec s = tu_tcp4();
	struct tb_stats out;

	tu_add_next(h, &s);
	tu_add_next(h, &s);
	assert_int_equal(tu_flush(h), 0);
	assert_int_equal(tu_nrec(h), 1);
	memset(&out, 0xa5, sizeof(out));
	tb_coalescer_stats(h->co, &out);
	assert_int_equal(out.pkts_in, 2);
	assert_int_equal(out.why[TB_WHY_FLUSH], 1);
	for (unsigned i = TB_LANE_COUNT; i < TB_STATS_LANES; i++)
		assert_int_equal(out.lane_pkts[i], 0);
	for (unsigned i = TB_WHY_COUNT; i < TB_STATS_WHYS; i++)
		assert_int_equal(out.why[i], 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(out.reserved[i], 0);
	tu_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(coalescer_opts_reserved), cmocka_unit_test(writer_reserved),
		cmocka_unit_test(tun_opts_reserved),	   cmocka_unit_test(carrier_opts_reserved),
		cmocka_unit_test(coalescer_stats_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
