/* SPDX-License-Identifier: MIT */
/* The coalescer: dispatch to lanes, flush in lane order, statistics. */
#include "lane.h"

#include <errno.h>
#include <stdlib.h>

#define FLAGS_KNOWN                                                                                \
	(TB_COALESCE_NO_TCP | TB_COALESCE_NO_UDP | TB_COALESCE_VERIFY_CSUM | TB_COALESCE_ORDER)

/* A packet held for ordering (TB_COALESCE_ORDER) until the lanes see it. */
struct tbi_held {
	const uint8_t *pkt;
	uint64_t epoch, counter;
	uint32_t len;
};

/*
 * The held packets of a burst, split as they arrive: those whose key is at
 * least every key before them form a sorted run (held); the displaced rest
 * (side) are sorted alone at release and merged into the run. An in-order
 * burst leaves side empty and is never sorted; a few displaced packets cost
 * a sort of those few.
 */
struct tbi_order {
	/* held[-1] is a zero key, so the run's last key is always there to
	 * compare with: the largest key held, or zero. */
	struct tbi_held *held, *side, *scratch;
	struct tbi_held *end; /* past the run's last entry: end[-1] has its largest key */
	uint32_t nside, max_pkts;
};

struct tb_coalescer {
	struct tb_writer *w;
	struct tb_arena *arena;
	unsigned flags;
	unsigned lanes;	      /* 1 << TB_LANE_* */
	int pending;	      /* first error of a lane written early, for flush */
	struct tbi_lane *hot; /* lane of the last TCP/UDP packet: its chain is tried first */
	struct tb_stats st;
	struct tbi_order order;
	struct tbi_lane lane[TB_LANE_COUNT];
};

static const char *const why_names[TB_WHY_COUNT] = {
	[TB_WHY_FLUSH] = "flush",
	[TB_WHY_PSH] = "psh",
	[TB_WHY_SHORT] = "short",
	[TB_WHY_SEQ] = "seq",
	[TB_WHY_FLAGS] = "flags",
	[TB_WHY_ECE] = "ece",
	[TB_WHY_TOS] = "tos",
	[TB_WHY_IP_ID] = "ip_id",
	[TB_WHY_SIZE] = "size",
	[TB_WHY_HDR] = "hdr",
	[TB_WHY_SEG_CAP] = "seg_cap",
	[TB_WHY_BYTE_CAP] = "byte_cap",
	[TB_WHY_EMPTY] = "empty",
	[TB_WHY_NO_CSUM] = "no_csum",
	[TB_WHY_BAD_CSUM] = "bad_csum",
	[TB_WHY_MALFORMED] = "malformed",
	[TB_WHY_UNSUPPORTED] = "unsupported",
	[TB_WHY_LANE_OFF] = "lane_off",
	[TB_WHY_FULL] = "full",
};

const char *tb_why_name(enum tb_why why)
{
	return (unsigned)why < TB_WHY_COUNT ? why_names[why] : "unknown";
}

const char *tb_lane_name(enum tb_lane lane)
{
	static const char *const names[TB_LANE_COUNT] = {"tcp", "udp", "pass"};
	return (unsigned)lane < TB_LANE_COUNT ? names[lane] : "unknown";
}

struct tb_coalescer *tb_coalescer_create(struct tb_writer *w, struct tb_arena *a,
					 const struct tb_coalescer_opts *opts)
{
	struct tb_coalescer *c;
	unsigned flags = opts ? opts->flags : 0;
	unsigned max_pkts = opts && opts->max_pkts ? opts->max_pkts : TB_COALESCE_MAX_PKTS;

	_Static_assert(TB_LANE_COUNT <= TB_STATS_LANES, "struct tb_stats: lane_pkts is full");
	_Static_assert(TB_WHY_COUNT <= TB_STATS_WHYS, "struct tb_stats: why is full");
	if (!w || !w->write || !a || max_pkts > (1u << 24) || (flags & ~(unsigned)FLAGS_KNOWN) ||
	    !tbi_reserved_zero(w->reserved, sizeof(w->reserved)) ||
	    (opts && !tbi_reserved_zero(opts->reserved, sizeof(opts->reserved)))) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->w = w;
	c->arena = a;
	c->flags = flags;
	c->lanes = 1u << TB_LANE_PASS;
	if (!(flags & TB_COALESCE_NO_TCP) && (w->caps & TB_CAP_TSO) && w->write_gso)
		c->lanes |= 1u << TB_LANE_TCP;
	if (!(flags & TB_COALESCE_NO_UDP) && (w->caps & TB_CAP_USO) && w->write_gso)
		c->lanes |= 1u << TB_LANE_UDP;
	if (flags & TB_COALESCE_ORDER) {
		c->order.max_pkts = max_pkts;
		c->order.held = calloc(max_pkts + 1, sizeof(struct tbi_held));
		if (c->order.held)
			c->order.held++;
		c->order.end = c->order.held;
		c->order.side = calloc(max_pkts, sizeof(struct tbi_held));
		c->order.scratch = calloc(max_pkts, sizeof(struct tbi_held));
		if (!c->order.held || !c->order.side || !c->order.scratch) {
			tb_coalescer_destroy(c);
			errno = ENOMEM;
			return NULL;
		}
	}
	for (int i = 0; i < TB_LANE_COUNT; i++) {
		if (tbi_lane_init(&c->lane[i], (enum tb_lane)i, max_pkts)) {
			tb_coalescer_destroy(c);
			errno = ENOMEM;
			return NULL;
		}
	}
	return c;
}

void tb_coalescer_destroy(struct tb_coalescer *c)
{
	if (!c)
		return;
	for (int i = 0; i < TB_LANE_COUNT; i++)
		tbi_lane_free(&c->lane[i]);
	free(c->order.held ? c->order.held - 1 : NULL);
	free(c->order.side);
	free(c->order.scratch);
	free(c);
}

void *tb_coalescer_reserve(struct tb_coalescer *c, size_t size)
{
	void *p = tbi_arena_take(c->arena->cur, size);

	return p ? p : tb_arena_reserve(c->arena, size);
}

unsigned tb_coalescer_lanes(const struct tb_coalescer *c)
{
	return c->lanes;
}

/* A full lane is written before flush: flows never span lanes, so no order
 * that matters changes. */
static void make_room(struct tb_coalescer *c, struct tbi_lane *l)
{
	struct tbi_ctx ctx = {c->w, &c->st, c->pending};

	if (!tbi_lane_full(l))
		return;
	tbi_lane_emit(l, &ctx, TB_WHY_FULL);
	c->pending = ctx.err;
}

static void pass(struct tb_coalescer *c, const uint8_t *data, size_t len)
{
	struct tbi_lane *l = &c->lane[TB_LANE_PASS];

	make_room(c, l);
	tbi_lane_verbatim(l, data, len);
	c->st.lane_pkts[TB_LANE_PASS]++;
}

/*
 * The common case, a segment that extends the chain the previous packet
 * touched, checked without parsing: one masked compare of the headers
 * against the seed's proves the flow, the header shape (IHL 5, no
 * fragment, same data offset, protocol) and every field that must match;
 * then only lengths, sequence, ID and caps are left. Anything else takes the
 * full path, which decides the same for these packets.
 */
static TBI_INLINE int extend_hot(struct tb_coalescer *c, const uint8_t *pkt, size_t len)
{
	struct tbi_lane *l = c->hot;
	struct tbi_slot *s;
	const uint8_t *seed, *l4;
	uint32_t tot, payload;

	if (!l || l->recent == TBI_NONE || tbi_lane_full(l))
		return 0;
	s = &l->slots[l->recent];
	if (!tbi_slot_is_open(l, s) || len <= s->hdr_len)
		return 0;
	seed = s->seed_data;
	/* Ports first: a packet of another flow leaves after one load. */
	if (memcmp(seed + s->ip_len, pkt + s->ip_len, 4) ||
	    !tbi_hdr_same(seed, pkt, s->vary, s->hdr_len))
		return 0;
	tot = s->version == 4 ? tbi_get16(pkt + 2) : 40u + tbi_get16(pkt + 4);
	if (tot > len || tot <= s->hdr_len)
		return 0;
	payload = tot - s->hdr_len;
	if (payload > s->seg_size || s->bytes + payload > TBI_MAX_SUPER)
		return 0;
	if (s->version == 4 && !(seed[6] & 0x40) &&
	    (uint16_t)(tbi_get16(seed + 4) + s->nseg) != tbi_get16(pkt + 4))
		return 0;
	l4 = pkt + s->ip_len;
	if (l->id == TB_LANE_TCP) {
		if (tbi_get32(l4 + 4) != s->next_seq)
			return 0;
	} else if (tbi_get16(l4 + 4) != tot - s->ip_len || tbi_get16(l4 + 6) == 0) {
		return 0;
	}
	c->st.pkts_in++;
	c->st.bytes_in += len;
	c->st.lane_pkts[l->id]++;
	tbi_slot_grow(l, s, pkt, tot, payload, l->id == TB_LANE_TCP && (l4[13] & TBI_TCP_PSH),
		      &c->st);
	return 1;
}

/*
 * A pure ACK (the reverse direction of every bulk flow, often most of a
 * burst) of the common shape, IPv4 without options or IPv6 without extension
 * headers, recognised from the few bytes that decide it and placed verbatim
 * in the TCP lane: no full parse, no flow lookup, no call. Any other shape
 * takes commit_slow, which reaches the same verdict.
 */
static TBI_INLINE int pure_ack(struct tb_coalescer *c, const uint8_t *pkt, size_t len)
{
	struct tbi_lane *l = &c->lane[TB_LANE_TCP];
	unsigned tot, l4;

	/* A segment with data is longer than any pure ACK: it leaves here. */
	if (len > 40 + 60 || len < 40)
		return 0;
	if (pkt[0] == 0x45) {
		if (pkt[9] != TBI_PROTO_TCP || (tbi_get16(pkt + 6) & 0x3fff))
			return 0;
		tot = tbi_get16(pkt + 2);
		l4 = (unsigned)(pkt[32] >> 4) * 4;
		if (tot > len || l4 < 20 || tot != 20 + l4 || !tbi_tcp_pure_ack(pkt[33]))
			return 0;
	} else if ((pkt[0] >> 4) == 6 && len >= 60) {
		if (pkt[6] != TBI_PROTO_TCP)
			return 0;
		tot = 40u + tbi_get16(pkt + 4);
		l4 = (unsigned)(pkt[52] >> 4) * 4;
		if (tot > len || l4 < 20 || tot != 40 + l4 || !tbi_tcp_pure_ack(pkt[53]))
			return 0;
	} else {
		return 0;
	}
	if (!(c->lanes & (1u << TB_LANE_TCP)) || tbi_lane_full(l))
		return 0;
	c->st.pkts_in++;
	c->st.bytes_in += len;
	c->st.lane_pkts[TB_LANE_TCP]++;
	c->st.pure_acks++;
	tbi_lane_verbatim(l, pkt, tot);
	c->hot = l;
	return 1;
}

/* Everything but the hot chain's next segment and a pure ACK: parse, dispatch, lane rules. */
static TBI_NOINLINE int commit_parse(struct tb_coalescer *c, const uint8_t *pkt, size_t len)
{
	struct tbi_pkt p;
	enum tbi_kind kind;
	enum tb_lane id;
	struct tbi_lane *l;

	c->st.pkts_in++;
	c->st.bytes_in += len;
	kind = tbi_parse_fast(pkt, len, &p);
	if (kind == TBI_KIND_L4 && p.proto == TBI_PROTO_TCP && p.payload == 0 &&
	    (c->lanes & (1u << TB_LANE_TCP)) && !(c->flags & TB_COALESCE_VERIFY_CSUM) &&
	    tbi_tcp_pure_ack(p.data[p.ip_len + 13])) {
		/* The reverse direction of every bulk flow: verbatim, no lookup. */
		l = &c->lane[TB_LANE_TCP];
		make_room(c, l);
		c->st.lane_pkts[TB_LANE_TCP]++;
		c->st.pure_acks++;
		tbi_lane_verbatim(l, pkt, p.len);
		c->hot = l;
		return 0;
	}
	if (kind == TBI_KIND_OTHER) {
		pass(c, pkt, len);
		return 0;
	}
	id = p.proto == TBI_PROTO_TCP ? TB_LANE_TCP : TB_LANE_UDP;
	if (!(c->lanes & (1u << id))) {
		c->st.why[TB_WHY_LANE_OFF]++;
		pass(c, pkt, len);
		return 0;
	}
	l = &c->lane[id];
	make_room(c, l);
	c->st.lane_pkts[id]++;
	if (kind != TBI_KIND_L4) {
		/* Its flow can't be known: nothing after it may overtake it. */
		tbi_lane_seal_all(l);
		c->st.why[kind == TBI_KIND_MALFORMED ? TB_WHY_MALFORMED : TB_WHY_UNSUPPORTED]++;
		tbi_lane_verbatim(l, pkt, len);
		return 0;
	}
	if ((c->flags & TB_COALESCE_VERIFY_CSUM) && !tbi_verify_csum(&p)) {
		struct tbi_flow f;
		tbi_lane_reject(l, &p, tbi_lane_lookup(l, &p, &f), TB_WHY_BAD_CSUM, &c->st);
		return 0;
	}
	if (id == TB_LANE_TCP)
		tbi_tcp_commit(l, &p, &c->st);
	else
		tbi_udp_commit(l, &p, &c->st);
	c->hot = l;
	return 0;
}

/* Inlined into both the plain commit and the ordering's release loop. */
static TBI_INLINE void dispatch(struct tb_coalescer *c, const uint8_t *pkt, size_t len)
{
	if (!(c->flags & TB_COALESCE_VERIFY_CSUM) &&
	    ((len <= 100 && pure_ack(c, pkt, len)) || extend_hot(c, pkt, len)))
		return;
	commit_parse(c, pkt, len);
}

/* Kept out of commit_key so that its own path stays a leaf without spills. */
static TBI_NOINLINE int commit_unordered(struct tb_coalescer *c, const void *pkt, size_t len)
{
	if (!c || !pkt || len > UINT32_MAX)
		return -EINVAL;
	dispatch(c, pkt, len);
	return 0;
}

/* The hot chain's next segment, or the full path: a call of its own, so
 * that tb_coalescer_commit places a pure ACK without saving registers. */
static TBI_NOINLINE int commit_data(struct tb_coalescer *c, const uint8_t *pkt, size_t len)
{
	if (!(c->flags & TB_COALESCE_VERIFY_CSUM) && extend_hot(c, pkt, len))
		return 0;
	return commit_parse(c, pkt, len);
}

int tb_coalescer_commit(struct tb_coalescer *c, const void *pkt, size_t len)
{
	if (!c || !pkt || len > UINT32_MAX || (c->flags & TB_COALESCE_ORDER))
		return -EINVAL;
	if (len <= 100 && !(c->flags & TB_COALESCE_VERIFY_CSUM) && pure_ack(c, pkt, len))
		return 0;
	return commit_data(c, pkt, len);
}

static inline int key_less(const struct tbi_held *a, const struct tbi_held *b)
{
	return a->epoch < b->epoch || (a->epoch == b->epoch && a->counter < b->counter);
}

/* Stable merge sort of n entries, scratch as large. */
static void merge_sort(struct tbi_held *a, struct tbi_held *scratch, uint32_t n)
{
	struct tbi_held *src = a, *dst = scratch, *t;

	for (uint32_t w = 1; w < n; w *= 2) {
		for (uint32_t lo = 0; lo < n; lo += 2 * w) {
			uint32_t mid = lo + w < n ? lo + w : n,
				 hi = lo + 2 * w < n ? lo + 2 * w : n;
			uint32_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				dst[k++] = key_less(&src[j], &src[i]) ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/*
 * Stable sort of the displaced packets: insertion sort, which is linear
 * when they are nearly in order among themselves (one packet that came too
 * early displaces a sorted run), handing over to merge sort once it has
 * moved more than a few entries per packet.
 */
static void sort_side(struct tbi_order *o)
{
	struct tbi_held *a = o->side;
	uint32_t moves = 0, budget = 8 * o->nside;

	for (uint32_t i = 1; i < o->nside; i++) {
		struct tbi_held x = a[i];
		uint32_t j = i;

		while (j > 0 && key_less(&x, &a[j - 1])) {
			a[j] = a[j - 1];
			j--;
			if (++moves > budget) {
				a[j] = x;
				merge_sort(a, o->scratch, o->nside);
				return;
			}
		}
		a[j] = x;
	}
}

/* The first of run[lo..hi) whose key is above x's: on equal keys the run's
 * packet arrived first, so it goes first. */
static uint32_t after(const struct tbi_held *run, uint32_t lo, uint32_t hi,
		      const struct tbi_held *x)
{
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (key_less(x, &run[mid]))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Hands the held packets to the lanes in key order. */
static TBI_NOINLINE void release(struct tb_coalescer *c)
{
	struct tbi_order *o = &c->order;
	const struct tbi_held *h = o->held;
	uint32_t i = 0, nheld = (uint32_t)(o->end - o->held);

	if (o->nside) {
		sort_side(o);
		/* Each displaced packet goes in where its key falls in the run. */
		for (uint32_t j = 0; j < o->nside; j++) {
			const struct tbi_held *s = &o->side[j];
			uint32_t end = after(h, i, nheld, s);

			for (; i < end; i++)
				dispatch(c, h[i].pkt, h[i].len);
			dispatch(c, s->pkt, s->len);
		}
	}
	for (; i < nheld; i++)
		dispatch(c, h[i].pkt, h[i].len);
	o->end = o->held;
	o->nside = 0;
}

static TBI_INLINE int hold(struct tb_coalescer *c, const void *pkt, size_t len, uint64_t epoch,
			   uint64_t counter)
{
	struct tbi_order *o = &c->order;
	const struct tbi_held *top = o->end - 1;
	struct tbi_held *e;

	if (TBI_UNLIKELY(epoch < top->epoch || (epoch == top->epoch && counter < top->counter))) {
		e = &o->side[o->nside++];
		c->st.displaced++;
	} else {
		e = o->end++;
	}
	e->pkt = pkt;
	e->len = (uint32_t)len;
	e->epoch = epoch;
	e->counter = counter;
	return 0;
}

/* The held packets fill max_pkts: the lanes take them before the next. */
static TBI_NOINLINE int hold_full(struct tb_coalescer *c, const void *pkt, size_t len,
				  uint64_t epoch, uint64_t counter)
{
	release(c);
	return hold(c, pkt, len, epoch, counter);
}

int tb_coalescer_commit_key(struct tb_coalescer *c, const void *pkt, size_t len, uint64_t epoch,
			    uint64_t counter)
{
	if (!c || !(c->flags & TB_COALESCE_ORDER))
		return commit_unordered(c, pkt, len);
	if (TBI_UNLIKELY(!pkt || len > UINT32_MAX))
		return -EINVAL;
	if (TBI_UNLIKELY((uint32_t)(c->order.end - c->order.held) + c->order.nside ==
			 c->order.max_pkts))
		return hold_full(c, pkt, len, epoch, counter);
	return hold(c, pkt, len, epoch, counter);
}

int tb_coalescer_flush(struct tb_coalescer *c)
{
	struct tbi_ctx ctx;

	if (c->order.end != c->order.held)
		release(c);
	ctx = (struct tbi_ctx){c->w, &c->st, c->pending};

	for (int i = 0; i < TB_LANE_COUNT; i++)
		tbi_lane_emit(&c->lane[i], &ctx, TB_WHY_FLUSH);
	c->pending = 0;
	tb_arena_reset(c->arena);
	return ctx.err;
}

void tb_coalescer_stats(const struct tb_coalescer *c, struct tb_stats *out)
{
	*out = c->st;
}

void tb_coalescer_reset_stats(struct tb_coalescer *c)
{
	memset(&c->st, 0, sizeof(c->st));
}
