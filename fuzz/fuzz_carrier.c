/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the carrier's receive slot split (tbi_gro_split and
 * tbi_gro_views) over any control buffer, control length, flags, data
 * length, slot size and gso_size. Checks against a tiny reference:
 *  - the verdict (accepted, -EBADMSG, -EMSGSIZE) and the datagram count;
 *  - accepted: the views, taken a few at a time, tile the data exactly,
 *    each at most gso_size bytes and all but the last exactly that, none
 *    outside the buffer (each view's first and last byte are touched, so
 *    ASan sees any overrun);
 *  - refused: nothing is delivered.
 * The control buffer is allocated at its exact length, so reading past it
 * is caught too.
 *
 * Input: byte 0 = options (bit 0 MSG_TRUNC, bit 1 MSG_CTRUNC, bit 2 write a
 * UDP_GRO message, bit 3 another message before it, bit 4 misalign the
 * buffer); byte 1 = views per call (0 means 1); bytes 2-4 data length and
 * 5-7 slot size (little endian, modulo 70001); 8-11 gso_size (int32); 12 =
 * added to the UDP_GRO message's cmsg_len (int8); 13 = bytes cut from the
 * end of the control buffer; the rest is appended to the control buffer.
 */
#include "carrier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_carrier: " __VA_ARGS__);                                     \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

#define CTRL_MAX 4096

static uint32_t le(const uint8_t *p, int n)
{
	uint32_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The reference: 0 with *gso and *found, or -EBADMSG. A message is a
 * header (H bytes, its data at H), padded to A; any message whose length
 * is shorter than a header or runs past the buffer makes the walk
 * untrustworthy. */
#define H sizeof(struct cmsghdr)
#define A sizeof(size_t)
static int ref_walk(const uint8_t *c, size_t n, int *gso, int *found)
{
	size_t off = 0;

	*found = 0;
	while (n >= H && off <= n - H) {
		struct cmsghdr h;
		memcpy(&h, c + off, sizeof(h));
		if (h.cmsg_len < H || h.cmsg_len > n - off)
			return -EBADMSG;
		if (h.cmsg_level == SOL_UDP && h.cmsg_type == UDP_GRO) {
			if (*found || h.cmsg_len < H + sizeof(int))
				return -EBADMSG;
			memcpy(gso, c + off + H, sizeof(int));
			*found = 1;
		}
		off += (h.cmsg_len + A - 1) & ~(A - 1);
	}
	return 0;
}

static size_t put(uint8_t *c, size_t off, int level, int type, const void *p, size_t len, int delta)
{
	struct cmsghdr h = {.cmsg_len = (size_t)((long)CMSG_LEN(len) + delta),
			    .cmsg_level = level,
			    .cmsg_type = type};

	memcpy(c + off, &h, sizeof(h));
	memcpy(c + off + CMSG_LEN(0), p, len);
	return off + CMSG_SPACE(len);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	static uint8_t built[CTRL_MAX + 64];
	struct tb_dgram v[256];
	struct tbi_gro_slot s;
	size_t len, slot, ctrl_len = 0, first = 0, at = 0;
	unsigned max;
	int opt, flags = 0, gso, delta, r, want, ref_gso = 0, found;
	uint8_t *mem, *ctrl, *data;
	size_t skew;

	if (size < 14)
		return 0;
	opt = in[0];
	max = in[1] ? in[1] : 1;
	len = le(in + 2, 3) % 70001;
	slot = le(in + 5, 3) % 70001;
	gso = (int)le(in + 8, 4);
	delta = (int8_t)in[12];
	flags |= opt & 1 ? MSG_TRUNC : 0;
	flags |= opt & 2 ? MSG_CTRUNC : 0;
	if (opt & 8) {
		uint32_t x = 7;
		ctrl_len = put(built, ctrl_len, SOL_SOCKET, 29, &x, sizeof(x), 0);
	}
	if (opt & 4)
		ctrl_len = put(built, ctrl_len, SOL_UDP, UDP_GRO, &gso, sizeof(gso), delta);
	if (size - 14 > CTRL_MAX - ctrl_len)
		return 0;
	memcpy(built + ctrl_len, in + 14, size - 14);
	ctrl_len += size - 14;
	ctrl_len -= in[13] < ctrl_len ? in[13] : ctrl_len;

	/* Exactly ctrl_len and len bytes, so any read past them is seen. */
	skew = opt & 16 ? 1 : 0;
	mem = malloc(ctrl_len + skew ? ctrl_len + skew : 1);
	data = malloc(len ? len : 1);
	if (!mem || !data) {
		free(mem);
		free(data);
		return 0;
	}
	ctrl = mem + skew;
	memcpy(ctrl, built, ctrl_len);
	if (!ctrl_len)
		ctrl = NULL; /* recvmsg without control room */

	r = tbi_gro_split(ctrl, ctrl_len, flags, len, slot, &s);

	want = flags & MSG_CTRUNC ? -EBADMSG : ref_walk(built, ctrl_len, &ref_gso, &found);
	if (!want && found && ref_gso <= 0)
		want = -EBADMSG;
	size_t seg = !want && found && (size_t)ref_gso < len ? (size_t)ref_gso : len;
	size_t count = seg ? (len + seg - 1) / seg : 1;
	if (!want && ((flags & MSG_TRUNC) || len > slot))
		want = -EMSGSIZE;
	if (r != want)
		FAIL("verdict %d, the reference %d", r, want);
	if (r) {
		if (s.count || tbi_gro_views(&s, data, 0, NULL, 0, v, 256))
			FAIL("a refused slot delivers");
		if (r == -EMSGSIZE && s.lost != count)
			FAIL("%zu lost, the reference %zu", s.lost, count);
		free(mem);
		free(data);
		return 0;
	}
	if (s.count != count || s.len != len)
		FAIL("%zu datagrams of %zu bytes, the reference %zu of %zu", s.count, s.len, count,
		     len);
	for (;;) {
		unsigned n = tbi_gro_views(&s, data, first, NULL, 0, v, max);
		if (!n)
			break;
		if (n > max)
			FAIL("%u views for %u", n, max);
		for (unsigned i = 0; i < n; i++) {
			size_t k = first + i;
			if (v[i].data != data + at)
				FAIL("view %zu does not follow the one before", k);
			if (v[i].len > seg || (k + 1 < count && v[i].len != seg))
				FAIL("view %zu: %zu bytes, segments of %zu", k, v[i].len, seg);
			if (v[i].len > len - at)
				FAIL("view %zu runs past the data", k);
			if (v[i].len) {
				volatile uint8_t t = v[i].data[0];
				t = v[i].data[v[i].len - 1];
				(void)t;
			}
			at += v[i].len;
		}
		first += n;
	}
	if (first != count || at != len)
		FAIL("%zu views of %zu bytes tile %zu of %zu", first, count, at, len);
	free(mem);
	free(data);
	return 0;
}
