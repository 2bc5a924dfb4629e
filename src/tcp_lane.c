/* SPDX-License-Identifier: MIT */
/* The TCP lane: in-order segments of a flow become one TSO superpacket. */
#include "lane.h"

#define ADMITTED (TBI_TCP_ACK | TBI_TCP_PSH | TBI_TCP_ECE)

static enum tb_why tcp_mergeable(const struct tbi_slot *s, const struct tbi_pkt *p)
{
	const uint8_t *a = s->seed_data + s->ip_len, *b = p->data + p->ip_len;
	enum tb_why why = tbi_ip_mergeable(s, p);

	if (why != TB_WHY_COUNT)
		return why;
	if ((a[13] ^ b[13]) & TBI_TCP_ECE)
		return TB_WHY_ECE;
	if (tbi_get32(b + 4) != s->next_seq)
		return TB_WHY_SEQ;
	/* ack number, data offset, window, urgent pointer (the kernel copies
	 * the seed's into every segment, even with URG clear), every option */
	if (memcmp(a + 8, b + 8, 4) || a[12] != b[12] || memcmp(a + 14, b + 14, 2) ||
	    memcmp(a + 18, b + 18, 2) ||
	    memcmp(a + 20, b + 20, (size_t)(s->hdr_len - s->ip_len - 20)))
		return TB_WHY_HDR;
	if (p->payload > s->seg_size)
		return TB_WHY_SIZE;
	if (s->bytes + p->payload > TBI_MAX_SUPER)
		return TB_WHY_BYTE_CAP;
	return TB_WHY_COUNT;
}

/* After a segment joined (or seeded) s: does the chain end here? */
static void maybe_close(struct tbi_slot *s, const struct tbi_pkt *p, uint8_t flags,
			struct tb_stats *st)
{
	if (p->payload < s->seg_size)
		tbi_lane_close(s, TB_WHY_SHORT, st);
	else if (flags & TBI_TCP_PSH)
		tbi_lane_close(s, TB_WHY_PSH, st);
	else if (s->nseg == TBI_MAX_SEGS)
		tbi_lane_close(s, TB_WHY_SEG_CAP, st);
}

void tbi_tcp_commit(struct tbi_lane *l, const struct tbi_pkt *p, struct tb_stats *st)
{
	uint8_t flags = p->data[p->ip_len + 13];
	uint32_t seq = tbi_get32(p->data + p->ip_len + 4);
	struct tbi_flow f;
	struct tbi_slot *s = tbi_lane_lookup(l, p, &f);

	if ((flags & ~ADMITTED) || !(flags & TBI_TCP_ACK)) {
		tbi_lane_reject(l, p, s, TB_WHY_FLAGS, st);
		return;
	}
	if (p->payload == 0) {
		/* A stale ACK is harmless; sealing would break every run of a
		 * bidirectional flow. */
		st->pure_acks++;
		tbi_lane_verbatim(l, p->data, p->len);
		return;
	}
	if (s) {
		enum tb_why why = tcp_mergeable(s, p);
		if (why == TB_WHY_COUNT) {
			tbi_lane_append(l, s, p);
			s->next_seq = seq + p->payload;
			s->psh |= (flags & TBI_TCP_PSH) != 0;
			maybe_close(s, p, flags, st);
			return;
		}
		tbi_lane_close(s, why, st);
	}
	s = tbi_lane_seed(l, p, &f);
	s->next_seq = seq + p->payload;
	s->psh = (flags & TBI_TCP_PSH) != 0;
	maybe_close(s, p, flags, st);
}
