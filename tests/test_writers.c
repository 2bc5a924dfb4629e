/* SPDX-License-Identifier: MIT */
/*
 * The library's own writers, given what a coalescer never gives them: a
 * record index out of range and a superpacket whose length lies.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(capture_get_out_of_range),
		cmocka_unit_test(capture_lying_superpacket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
