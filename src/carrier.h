/* SPDX-License-Identifier: MIT */
/*
 * The carrier's pure parts (gro_split.c): how a receive slot that recvmmsg
 * filled is cut into datagrams. Kept apart from the socket code so that it
 * can be tested and fuzzed on its own.
 */
#ifndef TBI_CARRIER_H
#define TBI_CARRIER_H

#include "internal.h"

#include <sys/socket.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* Linux 4.18+ */
#endif
#ifndef UDP_GRO
#define UDP_GRO 104 /* Linux 5.0+ */
#endif

#define TBI_DGRAM_MAX 65507u /* UDP payload over IPv4: 65535 - 20 - 8 */

/* What one receive slot holds. */
struct tbi_gro_slot {
	size_t len;   /* bytes received */
	size_t seg;   /* size of every datagram but the last (which may be shorter) */
	size_t count; /* datagrams to deliver: 0 for a refused slot */
	size_t lost;  /* datagrams a refused slot held (0: unknown) */
};

/*
 * Reads one slot's results: ctrl and ctrl_len as recvmsg left msg_control
 * and msg_controllen, msg_flags, data_len the message length (with MSG_TRUNC
 * asked for: the datagram's real length) and slot_size the slot's room.
 * Without a UDP_GRO control message the slot is one datagram (an empty one
 * included); with one, datagrams of gso_size bytes, the last shorter.
 * Returns 0, or refuses the slot (nothing of it may be delivered):
 *  -EMSGSIZE  larger than the slot (MSG_TRUNC): lost says how many datagrams;
 *  -EBADMSG   the control data can't be trusted: a cmsg_len shorter than a
 *             header or past the end, a UDP_GRO message too short for its
 *             int or given twice, gso_size 0 or negative, or MSG_CTRUNC (a
 *             GRO message may have been cut away).
 * Every length is checked here: ctrl may hold any bytes.
 */
int tbi_gro_split(const void *ctrl, size_t ctrl_len, int msg_flags, size_t data_len,
		  size_t slot_size, struct tbi_gro_slot *s);

/*
 * Views [first, first + max) of a slot tbi_gro_split accepted, clipped to
 * its count, into out: pointers into base, never a copy, each with from
 * and from_len. Returns how many were written (0 when first >= count).
 */
unsigned tbi_gro_views(const struct tbi_gro_slot *s, uint8_t *base, size_t first,
		       const struct sockaddr *from, socklen_t from_len, struct tb_dgram *out,
		       unsigned max);

#endif
