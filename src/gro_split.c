/* SPDX-License-Identifier: MIT */
/*
 * A receive slot cut into datagrams: the UDP_GRO control message says the
 * size of every datagram but the last. The control bytes are checked here
 * before anything is read from them.
 */
#include "carrier.h"

#include <errno.h>

/* Finds the UDP_GRO message. 1 with *gso set, 0 when there is none,
 * -EBADMSG when the walk can't be trusted. */
static int find_gro(const uint8_t *ctrl, size_t ctrl_len, int *gso)
{
	const size_t hdr = CMSG_LEN(0); /* header with its padding */
	size_t off = 0;
	int found = 0;

	/* Trailing bytes shorter than a header are padding, as for CMSG_NXTHDR. */
	while (ctrl && off < ctrl_len && ctrl_len - off >= sizeof(struct cmsghdr)) {
		struct cmsghdr h;
		size_t next;

		memcpy(&h, ctrl + off, sizeof(h)); /* ctrl may be unaligned */
		if (h.cmsg_len < hdr || h.cmsg_len > ctrl_len - off)
			return -EBADMSG;
		if (h.cmsg_level == SOL_UDP && h.cmsg_type == UDP_GRO) {
			if (found || h.cmsg_len < CMSG_LEN(sizeof(int)))
				return -EBADMSG;
			memcpy(gso, ctrl + off + hdr, sizeof(int));
			found = 1;
		}
		next = CMSG_ALIGN(h.cmsg_len);
		if (next > ctrl_len - off)
			break; /* the last message: its padding is not there */
		off += next;
	}
	return found;
}

int tbi_gro_split(const void *ctrl, size_t ctrl_len, int msg_flags, size_t data_len,
		  size_t slot_size, struct tbi_gro_slot *s)
{
	int gso = 0, r;

	memset(s, 0, sizeof(*s));
	s->len = data_len;
	if (msg_flags & MSG_CTRUNC)
		return -EBADMSG;
	r = find_gro(ctrl, ctrl_len, &gso);
	if (r < 0)
		return r;
	if (r && gso <= 0)
		return -EBADMSG;
	/* Without GRO the whole slot is one datagram; gso_size at least the
	 * data is one datagram as well. */
	s->seg = r && (size_t)gso < data_len ? (size_t)gso : data_len;
	s->count = s->seg ? data_len / s->seg + (data_len % s->seg != 0) : 1;
	if ((msg_flags & MSG_TRUNC) || data_len > slot_size) {
		s->lost = s->count;
		s->count = 0;
		return -EMSGSIZE;
	}
	return 0;
}

unsigned tbi_gro_views(const struct tbi_gro_slot *s, uint8_t *base, size_t first,
		       const struct sockaddr *from, socklen_t from_len, struct tb_dgram *out,
		       unsigned max)
{
	unsigned n = 0;

	while (n < max && first + n < s->count) {
		size_t off = (first + n) * s->seg;
		size_t len = s->len - off < s->seg ? s->len - off : s->seg;

		out[n] = (struct tb_dgram){base + off, len, from, from_len};
		n++;
	}
	return n;
}
