/* SPDX-License-Identifier: MIT */
/*
 * tbi_gro_split and tbi_gro_views: how a receive slot is cut into datagram
 * views, and every control buffer that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "carrier.h"

#include <errno.h>

#define SLOT 65536

static uint8_t data[SLOT];

/* Control buffer, aligned as recvmsg's would be, plus room to misalign it. */
static union {
	uint8_t b[512];
	struct cmsghdr align;
} ctl;

/* Writes one control message at off; returns the offset of the next. */
static size_t put(size_t off, int level, int type, const void *p, size_t len)
{
	struct cmsghdr h = {.cmsg_len = CMSG_LEN(len), .cmsg_level = level, .cmsg_type = type};

	memcpy(ctl.b + off, &h, sizeof(h));
	memcpy(ctl.b + off + CMSG_LEN(0), p, len);
	return off + CMSG_SPACE(len);
}

static size_t put_gro(size_t off, int gso)
{
	return put(off, SOL_UDP, UDP_GRO, &gso, sizeof(gso));
}

/* Splits and checks that the views tile [0, len) in pieces of seg, the last
 * shorter, taking them max at a time. Returns the count. */
static size_t split_ok(size_t ctrl_len, size_t len, size_t want_seg, size_t want_count,
		       unsigned max)
{
	struct tbi_gro_slot s;
	struct tb_dgram v[256];
	struct sockaddr_storage from = {0};
	size_t first = 0, off = 0;

	assert_int_equal(tbi_gro_split(ctl.b, ctrl_len, 0, len, SLOT, &s), 0);
	assert_int_equal(s.count, want_count);
	assert_int_equal(s.len, len);
	if (want_count > 1)
		assert_int_equal(s.seg, want_seg);
	for (;;) {
		unsigned n = tbi_gro_views(&s, data, first, (struct sockaddr *)&from, 7, v, max);
		if (!n)
			break;
		assert_true(n <= max);
		for (unsigned i = 0; i < n; i++) {
			assert_ptr_equal(v[i].data, data + off);
			assert_true(v[i].len <= want_seg || want_count == 1);
			/* Only the last may be shorter. */
			if (first + i + 1 < s.count)
				assert_int_equal(v[i].len, s.seg);
			assert_ptr_equal(v[i].from, &from);
			assert_int_equal(v[i].from_len, 7);
			off += v[i].len;
		}
		first += n;
	}
	assert_int_equal(first, want_count);
	assert_int_equal(off, len);
	return first;
}

static void refused(size_t ctrl_len, int flags, size_t len, int want, size_t lost)
{
	struct tbi_gro_slot s;
	struct tb_dgram v[4];

	assert_int_equal(tbi_gro_split(ctl.b, ctrl_len, flags, len, SLOT, &s), want);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.lost, lost);
	assert_int_equal(tbi_gro_views(&s, data, 0, NULL, 0, v, 4), 0);
}

static void no_control(void **state)
{
	(void)state;
	split_ok(0, 1400, 1400, 1, 8);
	split_ok(0, SLOT, SLOT, 1, 8);
	/* An empty datagram is a datagram. */
	split_ok(0, 0, 0, 1, 8);
	/* Shorter than a header: padding, not a message. */
	memset(ctl.b, 0xff, sizeof(ctl.b));
	split_ok(sizeof(struct cmsghdr) - 1, 1400, 1400, 1, 8);
	/* Another message only. */
	int v = 5;
	split_ok(put(0, SOL_SOCKET, 99, &v, sizeof(v)), 1400, 1400, 1, 8);
	/* No buffer at all. */
	struct tbi_gro_slot s;
	assert_int_equal(tbi_gro_split(NULL, 64, 0, 100, SLOT, &s), 0);
	assert_int_equal(s.count, 1);
}

static void exact_multiple(void **state)
{
	(void)state;
	split_ok(put_gro(0, 100), 300, 100, 3, 8);
	split_ok(put_gro(0, 1000), 64 * 1000, 1000, 64, 256);
	split_ok(put_gro(0, 1), 200, 1, 200, 256);
}

static void short_last(void **state)
{
	(void)state;
	split_ok(put_gro(0, 100), 250, 100, 3, 8);
	split_ok(put_gro(0, 1400), 40 * 1400 + 1, 1400, 41, 256);
}

static void gso_not_below_data(void **state)
{
	(void)state;
	/* gso_size equal to or larger than the data: one datagram. */
	split_ok(put_gro(0, 1400), 1400, 1400, 1, 8);
	split_ok(put_gro(0, 60000), 1400, 1400, 1, 8);
	split_ok(put_gro(0, 100), 0, 0, 1, 8);
}

static void views_resume(void **state)
{
	(void)state;
	/* A few at a time: the same tiling. */
	split_ok(put_gro(0, 10), 1005, 10, 101, 1);
	split_ok(put_gro(0, 10), 1005, 10, 101, 7);
	split_ok(put_gro(0, 10), 1000, 10, 100, 10);
}

static void after_other_messages(void **state)
{
	uint8_t pk[20] = {0};
	size_t off;

	(void)state;
	off = put(0, 0 /* SOL_IP */, 8 /* IP_PKTINFO */, pk, 12);
	off = put(off, SOL_SOCKET, 29, pk, 16);
	off = put_gro(off, 500);
	split_ok(off, 1200, 500, 3, 8);
	/* The last message without its padding is still read. */
	off = put_gro(0, 500);
	split_ok(CMSG_LEN(sizeof(int)), 1200, 500, 3, 8);
}

static void bad_gso_size(void **state)
{
	(void)state;
	refused(put_gro(0, 0), 0, 1000, -EBADMSG, 0);
	refused(put_gro(0, -1), 0, 1000, -EBADMSG, 0);
	refused(put_gro(0, INT32_MIN), 0, 1000, -EBADMSG, 0);
}

static void lying_lengths(void **state)
{
	struct cmsghdr h;
	size_t end;

	(void)state;
	/* cmsg_len past the control length. */
	end = put_gro(0, 100);
	memcpy(&h, ctl.b, sizeof(h));
	h.cmsg_len = end + 1;
	memcpy(ctl.b, &h, sizeof(h));
	refused(end, 0, 1000, -EBADMSG, 0);
	/* Huge. */
	h.cmsg_len = (size_t)-1;
	memcpy(ctl.b, &h, sizeof(h));
	refused(end, 0, 1000, -EBADMSG, 0);
	/* Shorter than its own header (0 would loop forever). */
	for (size_t l = 0; l < CMSG_LEN(0); l++) {
		h.cmsg_len = l;
		memcpy(ctl.b, &h, sizeof(h));
		refused(end, 0, 1000, -EBADMSG, 0);
	}
	/* A GRO message too short for its int. */
	h.cmsg_len = CMSG_LEN(2);
	memcpy(ctl.b, &h, sizeof(h));
	refused(end, 0, 1000, -EBADMSG, 0);
	/* The second message lies. */
	end = put_gro(put(0, SOL_SOCKET, 29, &end, sizeof(end)), 100);
	memcpy(&h, ctl.b + CMSG_SPACE(sizeof(end)), sizeof(h));
	h.cmsg_len = 4096;
	memcpy(ctl.b + CMSG_SPACE(sizeof(end)), &h, sizeof(h));
	refused(end, 0, 1000, -EBADMSG, 0);
	/* The control length cuts the GRO message. */
	end = put_gro(0, 100);
	refused(CMSG_LEN(sizeof(int)) - 1, 0, 1000, -EBADMSG, 0);
}

static void twice(void **state)
{
	(void)state;
	refused(put_gro(put_gro(0, 100), 100), 0, 1000, -EBADMSG, 0);
}

static void flags(void **state)
{
	(void)state;
	/* A cut control buffer may have lost the GRO message. */
	refused(0, MSG_CTRUNC, 1000, -EBADMSG, 0);
	/* Cut data: every datagram of the slot is lost. */
	refused(0, MSG_TRUNC, 70000, -EMSGSIZE, 1);
	refused(put_gro(0, 1000), MSG_TRUNC, 70000, -EMSGSIZE, 70);
	refused(put_gro(0, 1000), 0, SLOT + 1, -EMSGSIZE, 66);
	refused(0, 0, SLOT + 1, -EMSGSIZE, 1);
}

static void unaligned(void **state)
{
	struct tbi_gro_slot s;
	size_t end;

	(void)state;
	end = put_gro(0, 300);
	memmove(ctl.b + 3, ctl.b, end);
	assert_int_equal(tbi_gro_split(ctl.b + 3, end, 0, 1000, SLOT, &s), 0);
	assert_int_equal(s.count, 4);
	assert_int_equal(s.seg, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_control),	cmocka_unit_test(exact_multiple),
		cmocka_unit_test(short_last),	cmocka_unit_test(gso_not_below_data),
		cmocka_unit_test(views_resume), cmocka_unit_test(after_other_messages),
		cmocka_unit_test(bad_gso_size), cmocka_unit_test(lying_lengths),
		cmocka_unit_test(twice),	cmocka_unit_test(flags),
		cmocka_unit_test(unaligned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
