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
	uint32_t first, last;	  /* refs */
	uint32_t bytes;		  /* superpacket bytes so far, headers included */
	uint32_t next_seq;	  /* TCP: sequence number the next segment must carry */
	uint32_t epoch;		  /* open only while it equals the lane's epoch */
	uint32_t fent;		  /* flow-table entry, or TBI_NONE for verbatim slots */
	uint16_t nseg;
	uint16_t seg_size; /* the seed's payload */
	uint16_t hdr_len;
	uint16_t ip_len;
	uint8_t open;
	uint8_t psh;
	uint8_t version;
	uint8_t scratch[TBI_HDR_SCRATCH]; /* patched headers of the superpacket */
};

struct tbi_fent {
	uint64_t hash;
	uint32_t gen; /* valid only while it equals the lane's gen */
	uint32_t slot;
};

struct tbi_lane {
	enum tb_lane id;
	uint32_t cap; /* refs and slots */
	struct tbi_slot *slots;
	uint32_t nslots;
	struct tbi_ref *refs;
	uint32_t nrefs;
	struct iovec *iov; /* payload iovecs of superpackets, filled at emission */
	struct tbi_fent *tab;
	uint32_t mask;
	uint32_t gen;
	uint32_t epoch;
	uint32_t last; /* slot touched last: traffic comes in same-flow runs */
	uint16_t csum_offset;
	uint8_t gso_v4, gso_v6;
};

struct tbi_ctx {
	struct tb_writer *w;
	struct tb_stats *st;
	int err; /* first error */
};

int tbi_lane_init(struct tbi_lane *l, enum tb_lane id, uint32_t cap);
void tbi_lane_free(struct tbi_lane *l);
static inline int tbi_lane_full(const struct tbi_lane *l)
{
	return l->nrefs == l->cap;
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

/* The flow's latest chain if it is still open, else NULL. */
struct tbi_slot *tbi_lane_lookup(struct tbi_lane *l, const struct tbi_pkt *p, struct tbi_flow *f);
/* A new chain seeded by p, now the flow's latest. */
struct tbi_slot *tbi_lane_seed(struct tbi_lane *l, const struct tbi_pkt *p,
			       const struct tbi_flow *f);

void tbi_lane_verbatim(struct tbi_lane *l, const uint8_t *data, size_t len);
static inline void tbi_lane_close(struct tbi_slot *s, enum tb_why why, struct tb_stats *st)
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
static inline void tbi_chain_check_end(struct tbi_slot *s, uint32_t payload, int psh,
				       struct tb_stats *st)
{
	if (payload < s->seg_size)
		tbi_lane_close(s, TB_WHY_SHORT, st);
	else if (psh)
		tbi_lane_close(s, TB_WHY_PSH, st);
	else if (s->nseg == TBI_MAX_SEGS)
		tbi_lane_close(s, TB_WHY_SEG_CAP, st);
}

static inline int tbi_slot_open(const struct tbi_lane *l, const struct tbi_slot *s)
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

/* Appends a segment to s and closes the chain where it has to end: after a
 * short segment, after PSH (TCP), at the segment cap. */
static TBI_INLINE void tbi_chain_grow(struct tbi_lane *l, struct tbi_slot *s, const uint8_t *data,
				      uint32_t len, uint32_t payload, int psh, struct tb_stats *st)
{
	uint32_t r = l->nrefs++;

	l->refs[r].data = data;
	l->refs[r].len = len;
	l->refs[r].next = TBI_NONE;
	l->refs[s->last].next = r;
	s->last = r;
	s->nseg++;
	s->bytes += payload;
	s->next_seq += payload;
	s->psh |= (uint8_t)psh;
	tbi_chain_check_end(s, payload, psh, st);
}

/* The IP-level merge rules both lanes share: TB_WHY_COUNT when they hold. */
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
