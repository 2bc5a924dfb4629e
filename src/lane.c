/* SPDX-License-Identifier: MIT */
/* Slot bookkeeping, the flow table, IP rules and emission shared by lanes. */
#include "lane.h"

#include <errno.h>
#include <stdlib.h>

/* clang-format off */
#define F 0xff
const uint8_t tbi_vary[2][2][TBI_HDR_SCRATCH] = {
	{
		/* TCP/IPv4: total length, ID, header checksum; seq, PSH, checksum */
		{[2] = F, [3] = F, [4] = F, [5] = F, [10] = F, [11] = F,
		 [24] = F, [25] = F, [26] = F, [27] = F, [33] = TBI_TCP_PSH, [36] = F, [37] = F},
		/* TCP/IPv6: payload length; seq, PSH, checksum */
		{[4] = F, [5] = F,
		 [44] = F, [45] = F, [46] = F, [47] = F, [53] = TBI_TCP_PSH, [56] = F, [57] = F},
	},
	{
		/* UDP/IPv4: total length, ID, header checksum; length, checksum */
		{[2] = F, [3] = F, [4] = F, [5] = F, [10] = F, [11] = F,
		 [24] = F, [25] = F, [26] = F, [27] = F},
		/* UDP/IPv6: payload length; length, checksum */
		{[4] = F, [5] = F, [44] = F, [45] = F, [46] = F, [47] = F},
	},
};
#undef F
/* clang-format on */

int tbi_lane_init(struct tbi_lane *l, enum tb_lane id, uint32_t max_pkts)
{
	uint32_t tsize = 16;

	memset(l, 0, sizeof(*l));
	l->id = id;
	l->max_pkts = max_pkts;
	while (tsize < 2 * max_pkts) /* at most half full: short probes */
		tsize <<= 1;
	l->slots = calloc(max_pkts, sizeof(*l->slots));
	l->refs = calloc(max_pkts, sizeof(*l->refs));
	l->iov = calloc(max_pkts, sizeof(*l->iov));
	l->tab = calloc(tsize, sizeof(*l->tab));
	if (!l->slots || !l->refs || !l->iov || !l->tab) {
		tbi_lane_free(l);
		return -ENOMEM;
	}
	l->mask = tsize - 1;
	l->gen = 1;
	l->recent = TBI_NONE;
	if (id == TB_LANE_TCP) {
		l->csum_offset = TBI_TCP_CSUM_OFF;
		l->gso_v4 = TB_GSO_TCPV4;
		l->gso_v6 = TB_GSO_TCPV6;
	} else {
		l->csum_offset = TBI_UDP_CSUM_OFF;
		l->gso_v4 = l->gso_v6 = TB_GSO_UDP_L4;
	}
	return 0;
}

void tbi_lane_free(struct tbi_lane *l)
{
	free(l->slots);
	free(l->refs);
	free(l->iov);
	free(l->tab);
	memset(l, 0, sizeof(*l));
}

void tbi_lane_reject(struct tbi_lane *l, const struct tbi_pkt *p, struct tbi_slot *open,
		     enum tb_why why, struct tb_stats *st)
{
	if (open)
		open->open = 0;
	st->why[why]++;
	tbi_lane_verbatim(l, p->data, p->len);
}

enum tb_why tbi_ip_mergeable(const struct tbi_slot *s, const struct tbi_pkt *p)
{
	const uint8_t *a = s->seed_data, *b = p->data;

	if (p->hdr_len != s->hdr_len)
		return TB_WHY_HDR;
	if (p->version == 4) {
		if (a[1] != b[1])
			return TB_WHY_TOS;
		if (a[6] != b[6] || a[8] != b[8]) /* flags (DF), TTL */
			return TB_WHY_HDR;
		/* With DF clear the kernel re-stamps IDs as seed + i: merge only
		 * what it would give back unchanged. */
		if (!(a[6] & 0x40) && (uint16_t)(tbi_get16(a + 4) + s->nseg) != tbi_get16(b + 4))
			return TB_WHY_IP_ID;
		return TBI_MERGEABLE;
	}
	if ((a[0] ^ b[0]) || ((a[1] ^ b[1]) & 0xf0)) /* version, traffic class */
		return TB_WHY_TOS;
	if (((a[1] ^ b[1]) & 0x0f) || a[2] != b[2] || a[3] != b[3] || a[7] != b[7])
		return TB_WHY_HDR; /* flow label, hop limit */
	return TBI_MERGEABLE;
}

static void count_write(struct tbi_ctx *ctx, int rc, size_t len)
{
	if (rc == 0) {
		ctx->st->writes++;
		ctx->st->bytes_out += len;
		return;
	}
	ctx->st->write_errors++;
	if (!ctx->err)
		ctx->err = rc < 0 ? rc : -EIO;
}

static void write_plain(struct tbi_ctx *ctx, const uint8_t *data, uint32_t len)
{
	count_write(ctx, ctx->w->write(ctx->w, data, len), len);
}

/* Copies the seed's headers into h and patches them for the whole
 * superpacket: the caller's packets stay intact for the fallback. */
static void patch_headers(const struct tbi_lane *l, const struct tbi_slot *s, uint8_t proto,
			  uint8_t *h)
{
	uint8_t *l4 = h + s->ip_len;
	uint32_t l4len = s->bytes - s->ip_len;
	uint16_t pseudo;

	memcpy(h, s->seed_data, s->hdr_len);
	if (s->version == 4) {
		tbi_put16(h + 2, (uint16_t)s->bytes);
		tbi_ipv4_set_csum(h, s->ip_len);
	} else {
		tbi_put16(h + 4, (uint16_t)l4len);
	}
	if (proto == TBI_PROTO_TCP) {
		if (s->psh)
			l4[13] |= TBI_TCP_PSH;
	} else {
		tbi_put16(l4 + 4, (uint16_t)l4len);
	}
	/* The kernel finishes the checksum from the pseudo-header sum, which
	 * goes in folded and not inverted (CHECKSUM_PARTIAL). */
	pseudo = tb_csum_fold(tbi_pseudo_sum(h, s->version, proto, l4len));
	memcpy(l4 + l->csum_offset, &pseudo, 2);
}

static void write_chain(struct tbi_lane *l, struct tbi_slot *s, struct tbi_ctx *ctx,
			struct iovec *iov)
{
	struct tb_superpacket sp;
	/* The writer may read the headers only during its call (tunbatch.h). */
	uint8_t hdr[TBI_HDR_SCRATCH];
	uint8_t proto = l->id == TB_LANE_TCP ? TBI_PROTO_TCP : TBI_PROTO_UDP;
	unsigned n = 0;
	int rc;

	patch_headers(l, s, proto, hdr);
	for (uint32_t r = s->head; r != TBI_NONE; r = l->refs[r].next) {
		iov[n].iov_base = (void *)(l->refs[r].data + s->hdr_len);
		iov[n].iov_len = l->refs[r].len - s->hdr_len;
		n++;
	}
	memset(&sp, 0, sizeof(sp));
	sp.vnet.flags = TB_VNET_F_NEEDS_CSUM;
	sp.vnet.gso_type = s->version == 4 ? l->gso_v4 : l->gso_v6;
	sp.vnet.hdr_len = s->hdr_len;
	sp.vnet.gso_size = s->seg_size;
	sp.vnet.csum_start = s->ip_len;
	sp.vnet.csum_offset = l->csum_offset;
	sp.hdr = hdr;
	sp.payload = iov;
	sp.n_payload = n;
	sp.len = s->bytes;
	rc = ctx->w->write_gso(ctx->w, &sp);
	if (rc == 0) {
		ctx->st->writes++;
		ctx->st->bytes_out += s->bytes;
		ctx->st->superpackets++;
		ctx->st->segments += n;
		return;
	}
	/* Nothing lost: the originals are intact, send them one by one. */
	ctx->st->write_errors++;
	ctx->st->fallbacks++;
	for (uint32_t r = s->head; r != TBI_NONE; r = l->refs[r].next)
		write_plain(ctx, l->refs[r].data, l->refs[r].len);
}

void tbi_lane_emit(struct tbi_lane *l, struct tbi_ctx *ctx, enum tb_why why)
{
	struct iovec *iov = l->iov;

	for (uint32_t i = 0; i < l->nslots; i++) {
		struct tbi_slot *s = &l->slots[i];
		if (tbi_slot_is_open(l, s))
			ctx->st->why[why]++;
		if (s->nseg == 1) {
			write_plain(ctx, s->seed_data, s->bytes);
		} else {
			write_chain(l, s, ctx, iov);
			iov += s->nseg;
		}
	}
	l->nslots = 0;
	l->nrefs = 0;
	l->recent = TBI_NONE;
	l->epoch++;
	if (++l->gen == 0) { /* after 2^32 bursts: really clear, once */
		memset(l->tab, 0, (size_t)(l->mask + 1) * sizeof(*l->tab));
		l->gen = 1;
	}
}
