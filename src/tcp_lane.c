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
	/* What is left to differ: ack number, data offset, window, urgent
	 * pointer (the kernel copies the seed's into every segment, even with
	 * URG clear), options. */
	if (!tbi_hdr_same(s->seed_data, p->data, s->vary, s->hdr_len))
		return TB_WHY_HDR;
	if (p->payload > s->seg_size)
		return TB_WHY_SIZE;
	if (s->bytes + p->payload > TBI_MAX_SUPER)
		return TB_WHY_BYTE_CAP;
	return TB_WHY_COUNT;
}

void tbi_tcp_commit(struct tbi_lane *l, const struct tbi_pkt *p, struct tb_stats *st)
{
	uint8_t flags = p->data[p->ip_len + 13];
	int psh = (flags & TBI_TCP_PSH) != 0;
	struct tbi_flow f;
	struct tbi_slot *s;

	if (p->payload == 0 && tbi_tcp_pure_ack(flags)) {
		/* A pure ACK: a stale one is harmless, and sealing would break
		 * every run of a bidirectional flow. Its flow needs no lookup. */
		st->pure_acks++;
		tbi_lane_verbatim(l, p->data, p->len);
		return;
	}
	s = tbi_lane_lookup(l, p, &f);
	if ((flags & ~ADMITTED) || !(flags & TBI_TCP_ACK)) {
		tbi_lane_reject(l, p, s, TB_WHY_FLAGS, st);
		return;
	}
	if (s) {
		enum tb_why why = tcp_mergeable(s, p);
		if (why == TB_WHY_COUNT) {
			tbi_chain_grow(l, s, p->data, p->len, p->payload, psh, st);
			return;
		}
		tbi_lane_close(s, why, st);
	}
	s = tbi_lane_seed(l, p, &f);
	s->next_seq = tbi_get32(p->data + p->ip_len + 4) + p->payload;
	s->psh = (uint8_t)psh;
	tbi_chain_check_end(s, p->payload, psh, st);
}
