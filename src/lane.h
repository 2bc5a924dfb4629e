/* SPDX-License-Identifier: MIT */
/*
 * A lane: the packets of one kind in a burst, as an ordered list of slots.
 * A slot is either a chain (a seed and the segments merged behind it, found
 * through the flow table while it is open) or one packet sent verbatim.
 * The TCP and UDP lanes share everything here; they differ only in the rules
 * that decide whether a packet extends a chain (tcp_lane.c, udp_lane.c).
 */
#ifndef TB_LANE_H
#define TB_LANE_H

#include "internal.h"

/* A merge verdict: no reason stops the packet from joining the chain. */
#define TBI_MERGEABLE TB_WHY_COUNT

struct tbi_flow_key {
	uint64_t w[5]; /* addresses (v4 packed into w[0]), ports and version in w[4] */
};

struct tbi_ref {
	const uint8_t *data;
	uint32_t len;
	uint32_t next; /* next segment of the chain, or TBI_NONE */
};

struct tbi_slot {
	const uint8_t *seed_data; /* the first packet: its headers are the chain's */
	const uint8_t *vary;	  /* header bytes that may differ in a segment */
	uint32_t head, tail;	  /* a chain's first and last refs */
	uint32_t bytes;		  /* superpacket bytes so far, headers included */
	uint32_t next_seq;	  /* TCP: sequence number the next segment must carry */
	uint32_t epoch;		  /* open only while it equals the lane's epoch */
	uint32_t fent;		  /* a chain's flow-table entry */
	uint16_t nseg;
	uint16_t seg_size; /* the seed's payload */
	uint16_t hdr_len;
	uint16_t ip_len;
	uint8_t open;
	uint8_t psh;
	uint8_t version;
};

/* Small, so that a burst of verbatim slots (an ACK each) stays in cache; the
 * superpacket's patched headers live on the emission's stack instead. */
_Static_assert(sizeof(struct tbi_slot) <= 56, "a slot holds only what commit reads");

struct tbi_fent {
	uint64_t hash;
	uint32_t gen; /* valid only while it equals the lane's gen */
	uint32_t slot;
};

struct tbi_lane {
	enum tb_lane id;
	uint32_t max_pkts; /* refs and slots: the coalescer's max_pkts */
	struct tbi_slot *slots;
	uint32_t nslots;
	struct tbi_ref *refs;
	uint32_t nrefs;
	struct iovec *iov; /* payload iovecs of superpackets, filled at emission */
	struct tbi_fent *tab;
	uint32_t mask;
	uint32_t gen;
	uint32_t epoch;
	uint32_t recent; /* slot touched last: traffic comes in same-flow runs */
	uint16_t csum_offset;
	uint8_t gso_v4, gso_v6;
};

struct tbi_ctx {
	struct tb_writer *w;
	struct tb_stats *st;
	int err; /* first error */
};

int tbi_lane_init(struct tbi_lane *l, enum tb_lane id, uint32_t max_pkts);
void tbi_lane_free(struct tbi_lane *l);
static inline int tbi_lane_full(const struct tbi_lane *l)
{
	return l->nrefs == l->max_pkts;
}

/* A packet's flow as the lane's table knows it. */
/*
 * The flow table's hash: independent multiplies (no chain through h), then
 * one mix of the sum. Inline, so that the fast path's IPv4 keys, whose
 * middle words are zero, cost two multiplies.
 */
static TBI_INLINE uint64_t tbi_flow_hash(const struct tbi_flow_key *k)
{
	uint64_t h = k->w[0] * 0x9e3779b97f4a7c15ull + k->w[1] * 0xc2b2ae3d27d4eb4full +
		     k->w[2] * 0x165667b19e3779f9ull + k->w[3] * 0xd6e8feb86659fd93ull +
		     k->w[4] * 0xff51afd7ed558ccdull;

	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

struct tbi_flow {
	uint64_t hash;
	uint32_t fent; /* the flow's table entry, or the free one it would take */
};

/* Ends s's chain: nothing joins it after this; why is counted. */
static inline void tbi_slot_seal(struct tbi_slot *s, enum tb_why why, struct tb_stats *st)
{
	s->open = 0;
	st->why[why]++;
}
/* Sends p verbatim and seals its flow's open chain; counts why once. */
void tbi_lane_reject(struct tbi_lane *l, const struct tbi_pkt *p, struct tbi_slot *open,
		     enum tb_why why, struct tb_stats *st);
/* Seals every open chain: a packet whose flow can't be known follows. */
static inline void tbi_lane_seal_all(struct tbi_lane *l)
{
	l->epoch++;
}
/* Seals s after the segment just appended where the chain has to end: a
 * short segment, PSH (TCP), the segment cap. */
static inline void tbi_slot_seal_if_done(struct tbi_slot *s, uint32_t payload, int psh,
					 struct tb_stats *st)
{
	if (payload < s->seg_size)
		tbi_slot_seal(s, TB_WHY_SHORT, st);
	else if (psh)
		tbi_slot_seal(s, TB_WHY_PSH, st);
	else if (s->nseg == TBI_MAX_SEGS)
		tbi_slot_seal(s, TB_WHY_SEG_CAP, st);
}

static inline int tbi_slot_is_open(const struct tbi_lane *l, const struct tbi_slot *s)
{
	return s->open && s->epoch == l->epoch;
}

/*
 * Per kind of chain (TCP or UDP, IPv4 or IPv6), the header bits that may
 * differ between a seed and a segment that joins it: lengths, IPv4 ID and
 * checksums, the TCP sequence number and checksum, PSH. Every other bit of
 * the headers must be equal, which one masked compare checks.
 */
extern const uint8_t tbi_vary[2][2][TBI_HDR_SCRATCH]; /* [udp][v6] */

#if defined(__SSE2__)
#include <emmintrin.h>

/* 1 when every header bit of b outside vary equals a's, over n bytes: 16 <=
 * n <= 112. The last chunk may overlap the one before it, which equality
 * does not mind. */
static inline __m128i tbi_chunk_diff(const uint8_t *a, const uint8_t *b, const uint8_t *vary,
				     unsigned off)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + off));
	__m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + off));
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(vary + off));

	return _mm_andnot_si128(v, _mm_xor_si128(x, y));
}

static inline int tbi_hdr_same(const uint8_t *a, const uint8_t *b, const uint8_t *vary, unsigned n)
{
	__m128i d = tbi_chunk_diff(a, b, vary, n - 16);

	switch ((n - 1) / 16) {
	case 6:
		d = _mm_or_si128(d, tbi_chunk_diff(a, b, vary, 80));
		/* fallthrough */
	case 5:
		d = _mm_or_si128(d, tbi_chunk_diff(a, b, vary, 64));
		/* fallthrough */
	case 4:
		d = _mm_or_si128(d, tbi_chunk_diff(a, b, vary, 48));
		/* fallthrough */
	case 3:
		d = _mm_or_si128(d, tbi_chunk_diff(a, b, vary, 32));
		/* fallthrough */
	case 2:
		d = _mm_or_si128(d, tbi_chunk_diff(a, b, vary, 16));
		/* fallthrough */
	case 1:
		d = _mm_or_si128(d, tbi_chunk_diff(a, b, vary, 0));
		/* fallthrough */
	default:
		break;
	}
	return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xffff;
}
#else
static inline uint64_t tbi_word_diff(const uint8_t *a, const uint8_t *b, const uint8_t *vary,
				     unsigned off)
{
	uint64_t x, y, v;

	memcpy(&x, a + off, 8);
	memcpy(&y, b + off, 8);
	memcpy(&v, vary + off, 8);
	return (x ^ y) & ~v;
}

/* 1 when every header bit of b outside vary equals a's, over n bytes: 8 <= n
 * <= 104, a multiple of 4. Unrolled; the last word may overlap the one
 * before it, which equality does not mind. */
static inline int tbi_hdr_same(const uint8_t *a, const uint8_t *b, const uint8_t *vary, unsigned n)
{
	uint64_t d = tbi_word_diff(a, b, vary, n - 8);

	switch ((n - 1) / 8) {
	case 12:
		d |= tbi_word_diff(a, b, vary, 88);
		/* fallthrough */
	case 11:
		d |= tbi_word_diff(a, b, vary, 80);
		/* fallthrough */
	case 10:
		d |= tbi_word_diff(a, b, vary, 72);
		/* fallthrough */
	case 9:
		d |= tbi_word_diff(a, b, vary, 64);
		/* fallthrough */
	case 8:
		d |= tbi_word_diff(a, b, vary, 56);
		/* fallthrough */
	case 7:
		d |= tbi_word_diff(a, b, vary, 48);
		/* fallthrough */
	case 6:
		d |= tbi_word_diff(a, b, vary, 40);
		/* fallthrough */
	case 5:
		d |= tbi_word_diff(a, b, vary, 32);
		/* fallthrough */
	case 4:
		d |= tbi_word_diff(a, b, vary, 24);
		/* fallthrough */
	case 3:
		d |= tbi_word_diff(a, b, vary, 16);
		/* fallthrough */
	case 2:
		d |= tbi_word_diff(a, b, vary, 8);
		/* fallthrough */
	case 1:
		d |= tbi_word_diff(a, b, vary, 0);
		/* fallthrough */
	default:
		break;
	}
	return d == 0;
}
#endif

/* The flow table's hash of p's addresses and ports (IPv4 keys cost two
 * multiplies: their other words are zero). */
static TBI_INLINE uint64_t tbi_flow_hash_pkt(const struct tbi_pkt *p)
{
	struct tbi_flow_key k;
	uint32_t ports;

	memcpy(&ports, p->data + p->ip_len, 4);
	if (p->version == 4) {
		memcpy(&k.w[0], p->data + 12, 8);
		k.w[1] = k.w[2] = k.w[3] = 0;
	} else {
		memcpy(&k.w[0], p->data + 8, 32);
	}
	k.w[4] = (uint64_t)ports | (uint64_t)p->version << 32;
	return tbi_flow_hash(&k);
}

/* Whether p is of the flow seeded by s: compared on the packets themselves,
 * so a slot keeps no copy of its key. Seeds in a lane have IPv4 without
 * options or IPv6 without extension headers, like p. */
static TBI_INLINE int tbi_same_flow(const struct tbi_slot *s, const struct tbi_pkt *p)
{
	const uint8_t *a = s->seed_data, *b = p->data;
	uint64_t x[4], y[4];
	uint32_t pa, pb;

	if (s->version != p->version)
		return 0;
	memcpy(&pa, a + s->ip_len, 4);
	memcpy(&pb, b + p->ip_len, 4);
	if (pa != pb)
		return 0;
	if (p->version == 4) {
		memcpy(x, a + 12, 8);
		memcpy(y, b + 12, 8);
		return x[0] == y[0];
	}
	memcpy(x, a + 8, 32);
	memcpy(y, b + 8, 32);
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

static TBI_INLINE struct tbi_slot *tbi_lane_lookup(struct tbi_lane *l, const struct tbi_pkt *p,
						   struct tbi_flow *f)
{
	struct tbi_slot *s;
	uint32_t i;

	if (l->recent != TBI_NONE) {
		s = &l->slots[l->recent];
		if (s->fent != TBI_NONE && tbi_same_flow(s, p)) {
			f->fent = s->fent;
			f->hash = l->tab[s->fent].hash;
			return tbi_slot_is_open(l, s) ? s : NULL;
		}
	}
	f->hash = tbi_flow_hash_pkt(p);
	for (i = (uint32_t)f->hash & l->mask;; i = (i + 1) & l->mask) {
		struct tbi_fent *e = &l->tab[i];
		if (e->gen != l->gen) {
			f->fent = i; /* a new flow: seed takes this entry */
			return NULL;
		}
		if (e->hash == f->hash && tbi_same_flow(&l->slots[e->slot], p)) {
			f->fent = i;
			l->recent = e->slot;
			s = &l->slots[e->slot];
			return tbi_slot_is_open(l, s) ? s : NULL;
		}
	}
}

/* Writes ref r: the last of its chain so far. */
static TBI_INLINE void tbi_put_ref(struct tbi_lane *l, uint32_t r, const uint8_t *data,
				   uint32_t len)
{
	l->refs[r].data = data;
	l->refs[r].len = len;
	l->refs[r].next = TBI_NONE;
}

/*
 * A new slot at the end of the lane. A verbatim packet is all in its slot
 * (seed_data, bytes): it takes a ref's place in the lane's count, but no
 * ref is written, since only chains link refs.
 */
static TBI_INLINE struct tbi_slot *tbi_new_slot(struct tbi_lane *l, const uint8_t *data,
						uint32_t len)
{
	struct tbi_slot *s = &l->slots[l->nslots++];

	l->nrefs++;
	s->seed_data = data;
	s->nseg = 1;
	s->bytes = len;
	s->open = 0;
	return s;
}

static TBI_INLINE struct tbi_slot *tbi_lane_seed(struct tbi_lane *l, const struct tbi_pkt *p,
						 const struct tbi_flow *f)
{
	struct tbi_slot *s = tbi_new_slot(l, p->data, p->len);
	struct tbi_fent *e = &l->tab[f->fent];
	uint32_t n = (uint32_t)(s - l->slots);

	s->head = s->tail = l->nrefs - 1;
	tbi_put_ref(l, s->head, p->data, p->len);
	s->open = 1;
	s->psh = 0;
	s->epoch = l->epoch;
	s->fent = f->fent;
	s->seg_size = (uint16_t)p->payload;
	s->hdr_len = p->hdr_len;
	s->ip_len = p->ip_len;
	s->version = p->version;
	s->vary = tbi_vary[l->id == TB_LANE_UDP][p->version == 6];
	e->gen = l->gen;
	e->hash = f->hash;
	e->slot = n;
	l->recent = n;
	return s;
}

/* A packet sent as it is, in its place in the lane. */
static TBI_INLINE void tbi_lane_verbatim(struct tbi_lane *l, const uint8_t *data, size_t len)
{
	tbi_new_slot(l, data, (uint32_t)len);
}

/* Appends a segment to s's chain, then seals it where it has to end. */
static TBI_INLINE void tbi_slot_grow(struct tbi_lane *l, struct tbi_slot *s, const uint8_t *data,
				     uint32_t len, uint32_t payload, int psh, struct tb_stats *st)
{
	uint32_t r = l->nrefs++;

	tbi_put_ref(l, r, data, len);
	l->refs[s->tail].next = r;
	s->tail = r;
	s->nseg++;
	s->bytes += payload;
	s->next_seq += payload;
	s->psh |= (uint8_t)psh;
	tbi_slot_seal_if_done(s, payload, psh, st);
}

/* The IP-level merge rules both lanes share: TBI_MERGEABLE when they hold. */
enum tb_why tbi_ip_mergeable(const struct tbi_slot *s, const struct tbi_pkt *p);

/* Writes every slot in order and empties the lane; open chains count why. */
void tbi_lane_emit(struct tbi_lane *l, struct tbi_ctx *ctx, enum tb_why why);

/* A pure ACK's flags (the payload is empty): ACK, maybe PSH or ECE, nothing else. */
static inline int tbi_tcp_pure_ack(uint8_t flags)
{
	return (flags & (TBI_TCP_ACK | TBI_TCP_SYN | TBI_TCP_FIN | TBI_TCP_RST | TBI_TCP_URG |
			 TBI_TCP_CWR)) == TBI_TCP_ACK;
}

/* TCP and UDP lane rules. */
void tbi_tcp_commit(struct tbi_lane *l, const struct tbi_pkt *p, struct tb_stats *st);
void tbi_udp_commit(struct tbi_lane *l, const struct tbi_pkt *p, struct tb_stats *st);

#endif
