/* SPDX-License-Identifier: MIT */
/* The UDP lane: equal-size datagrams of a flow become one USO superpacket. */
#include "lane.h"

void tbi_udp_commit(struct tbi_lane *l, const struct tbi_pkt *p, struct tb_stats *st)
{
	struct tbi_flow f;
	struct tbi_slot *s = tbi_lane_lookup(l, p, &f);

	if (p->payload == 0) {
		tbi_lane_reject(l, p, s, TB_WHY_EMPTY, st);
		return;
	}
	/* USO makes the kernel compute a checksum: a datagram sent without
	 * one would come out changed. */
	if (tbi_get16(p->data + p->ip_len + 6) == 0) {
		tbi_lane_reject(l, p, s, TB_WHY_NO_CSUM, st);
		return;
	}
	if (s) {
		enum tb_why why = tbi_ip_mergeable(s, p);
		if (why == TBI_MERGEABLE && p->payload > s->seg_size)
			why = TB_WHY_SIZE;
		if (why == TBI_MERGEABLE && s->bytes + p->payload > TBI_MAX_SUPER)
			why = TB_WHY_BYTE_CAP;
		if (why == TBI_MERGEABLE) {
			tbi_slot_grow(l, s, p->data, p->len, p->payload, 0, st);
			return;
		}
		tbi_slot_seal(s, why, st);
	}
	tbi_lane_seed(l, p, &f);
}
