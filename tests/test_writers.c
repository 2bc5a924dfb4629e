/* SPDX-License-Identifier: MIT */
/*
 * The library's own writers, given what a coalescer never gives them: a
 * record index out of range.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(capture_get_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
